package store

import "gorm.io/gorm"

// Models exposes the live models to the external test package.
var Models = models

// DBForTest exposes the writer handle to schema tests.
func DBForTest(s *Store) *gorm.DB { return s.db }

// SetFanout makes MaterializeDeliveries cover chunk subscriber ids per
// transaction and call after (if not nil) once each has committed.
func SetFanout(s *Store, chunk int64, after func(from int64)) {
	s.fanout.chunk, s.fanout.after = chunk, after
}
