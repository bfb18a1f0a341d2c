package store

import "gorm.io/gorm"

// Models exposes the live models to the external test package.
var Models = models

// DBForTest exposes the writer handle to schema tests.
func DBForTest(s *Store) *gorm.DB { return s.db }
