package worker

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// DomainLimits bounds concurrent SMTP transactions per recipient domain
// in one process, so that one provider is not flooded by all senders at
// once. A limit of 0 means none.
type DomainLimits struct {
	def  int
	sems sync.Map // domain → chan struct{}
	max  map[string]int
}

// ParseDomainLimits reads "gmail.com=4,outlook.com=2,*=8".
func ParseDomainLimits(s string) (*DomainLimits, error) {
	d := &DomainLimits{max: map[string]int{}}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		dom, n, ok := strings.Cut(f, "=")
		var k int
		if _, err := fmt.Sscanf(n, "%d", &k); !ok || err != nil || k < 0 || dom == "" {
			return nil, fmt.Errorf("%q: want domain=limit", f)
		}
		if dom == "*" {
			d.def = k
		} else {
			d.max[strings.ToLower(dom)] = k
		}
	}
	return d, nil
}

// Acquire waits for a slot for the domain of addr and returns its release.
func (d *DomainLimits) Acquire(ctx context.Context, addr string) (func(), error) {
	if d == nil {
		return func() {}, nil
	}
	dom := strings.ToLower(domainOf(addr))
	n, ok := d.max[dom]
	if !ok {
		n = d.def
	}
	if n == 0 {
		return func() {}, nil
	}
	v, _ := d.sems.LoadOrStore(dom, make(chan struct{}, n))
	sem := v.(chan struct{})
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
