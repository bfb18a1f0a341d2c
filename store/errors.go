package store

import (
	"errors"
	"fmt"
)

// Sentinel errors returned (wrapped) by the store. Callers test them with
// errors.Is; the API maps them to HTTP statuses in one table.
var (
	// ErrNotFound means the addressed row does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the write would break a uniqueness rule or a state
	// machine rule (a duplicate slug, editing a campaign that is sending).
	ErrConflict = errors.New("conflict")
)

// NotFoundError names the missing row, so that a caller that sent a list of
// ids can point at the one that was wrong.
type NotFoundError struct {
	What string // "list", "subscriber", "campaign", ...
	ID   int64
}

func (e *NotFoundError) Error() string { return fmt.Sprintf("%s %d: not found", e.What, e.ID) }

// Is makes errors.Is(err, ErrNotFound) true for a *NotFoundError.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

func notFound(what string, id int64) error { return &NotFoundError{What: what, ID: id} }

// ConflictError explains why a write was refused. Field, when set, names
// the one input the conflict is about (a taken slug, a campaign without
// lists), so that a form can point at it; it is the API's field name.
type ConflictError struct {
	Field string
	Msg   string
}

func (e *ConflictError) Error() string { return e.Msg }

// Is makes errors.Is(err, ErrConflict) true for a *ConflictError.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

func conflictf(format string, args ...any) error {
	return &ConflictError{Msg: fmt.Sprintf(format, args...)}
}

// fieldConflictf is a conflict about one input field.
func fieldConflictf(field, format string, args ...any) error {
	return &ConflictError{Field: field, Msg: fmt.Sprintf(format, args...)}
}
