package worker

import (
	"github.com/storsthlm/utskick/store"
)

// outcomeLabel names an outcome for the sends counter.
func outcomeLabel(o store.Outcome) string {
	switch o.Status {
	case store.DeliveryFailed:
		return "failed_" + o.FailureClass
	case store.DeliveryPending:
		return "retry"
	}
	return o.Status
}
