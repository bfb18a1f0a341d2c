package api

import (
	"testing"
	"time"

	"github.com/storsthlm/utskick/mailtemplates"
	"github.com/storsthlm/utskick/store"
)

// TestAudienceLabelsExist checks the words audLabels looks up by value
// (the template walk in TestStaffWordsExistInBothLanguagesAndEveryUsedKeyExists
// sees only literal keys): every status, mode, role, reason and event
// kind the store can hold has them in both languages.
func TestAudienceLabelsExist(t *testing.T) {
	w, err := loadWebUI(time.Now)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"aud.sub_status.":    {store.SubConfirmed, store.SubUnconfirmed, store.SubUnsubscribed},
		"aud.import_status.": {store.ImportUploading, store.ImportQueued, store.ImportRunning, store.ImportDone, store.ImportFailed},
		"imports.mode_":      {store.ImportSubscribe, store.ImportUnsubscribe, store.ImportSuppress},
		"imports.role_":      {"email", "name", "language", "tracking_consent", "attribute", "ignored"},
		"imports.reason.": {store.RejectInvalidAddress, store.RejectSuppressed, store.RejectDuplicate, store.RejectUnsubscribed,
			store.RejectNotFound, store.RejectBadRow, store.RejectBadValue, store.RejectTooLong},
		"supp.reason.": {store.SuppressManual, store.SuppressHardBounce, store.SuppressComplaint, store.SuppressUnsubscribedAll, store.SuppressErased},
		"subs.set_":    {store.SubConfirmed, store.SubUnconfirmed, store.SubUnsubscribed},
		"aud.event.": {store.EventCreated, store.EventUpdated, store.EventDeleted, store.EventErased, store.EventSubscribed,
			store.EventConfirmed, store.EventUnsubscribed, store.EventCampaign, store.EventSuppressed,
			store.EventUnsuppressed, store.EventOpened, store.EventClicked, store.EventBounced, store.EventSoftBounced,
			store.EventPolicyBounced, store.EventComplained, store.EventTrackingConsent},
	}
	for prefix, values := range want {
		for _, v := range values {
			for _, lang := range mailtemplates.Languages {
				if _, ok := w.cats[lang][prefix+v]; !ok {
					t.Errorf("%s.json lacks %q", lang, prefix+v)
				}
			}
		}
	}
	for _, m := range []string{store.ImportSubscribe, store.ImportUnsubscribe, store.ImportSuppress} {
		if _, ok := w.cats["en"]["imports.mode_"+m+"_desc"]; !ok {
			t.Errorf("no description of mode %s", m)
		}
	}
	if got := (audLabels{cat: w.cats["sv"]}).L("aud.event.", "something.new", ""); got != "something.new" {
		t.Errorf("an unknown value shows as %q, want itself", got)
	}
}
