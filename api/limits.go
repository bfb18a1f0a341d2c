package api

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/storsthlm/utskick/queue"
)

// limitIP limits the subscribe and confirm pages per client IP. IPv6
// clients are counted per /64, the block one household or host gets, so
// that rotating addresses inside it does not escape the limit.
//
// Unsubscribe and preference links are not limited: they carry a signed
// token, a withdrawal must always go through at once, and mail providers
// send RFC 8058 one-click requests for many users from the same few
// addresses.
func (s *Server) limitIP(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		key := "ip:" + ipKey(c.RealIP())
		if ok, err := s.allow(c, key, s.rateIP); !ok {
			return err
		}
		return next(c)
	}
}

func ipKey(ip string) string {
	p := net.ParseIP(ip)
	if p == nil {
		return ip
	}
	if p.To4() == nil {
		return p.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return p.String()
}

// allow counts one request under key. When the limit is reached it
// writes the "too many requests" page and returns false with the render
// error (nil when the page was written). A limiter that fails (Redis
// away) lets the request through and logs: a public body's form should
// not go down with the limiter.
func (s *Server) allow(c echo.Context, key string, r queue.Rate) (bool, error) {
	if s.limiter == nil || r.Unlimited() {
		return true, nil
	}
	ok, retry, err := s.limiter.Allow(c.Request().Context(), key, r)
	if err != nil {
		s.log.Warn("rate limiter unavailable; request allowed", "err", err)
		return true, nil
	}
	if ok {
		return true, nil
	}
	secs := int(max(retry.Round(time.Second), time.Second) / time.Second)
	c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
	lang := pageLang(c, "sv")
	cat := s.pages.cats(lang)
	return false, s.message(c, http.StatusTooManyRequests, lang, "page.rate_limited_title", []string{cat.T("page.rate_limited_body")})
}

// allowTestMails counts n test mails against the calling token's
// RateTest. Over it, the answer is a 429 with Retry-After: a test send
// goes out at once to addresses staff type in, so without a bound one
// token could use the service to mail anyone, as fast as SMTP takes it.
// Like the public limits, a limiter that fails lets the request through.
func (s *Server) allowTestMails(c echo.Context, n int) error {
	tok := tokenOf(c)
	if s.limiter == nil || s.rateTest.Unlimited() || tok == nil {
		return nil
	}
	key := "test:" + strconv.FormatInt(tok.ID, 10)
	for range n {
		ok, retry, err := s.limiter.Allow(c.Request().Context(), key, s.rateTest)
		if err != nil {
			s.log.Warn("rate limiter unavailable; test send allowed", "err", err)
			return nil
		}
		if !ok {
			secs := int(max(retry.Round(time.Second), time.Second) / time.Second)
			c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
			return echo.NewHTTPError(http.StatusTooManyRequests,
				fmt.Sprintf("test sends are limited to %d mails per %s per token; try again in %d s", s.rateTest.N, s.rateTest.Per, secs))
		}
	}
	return nil
}
