package store

// FilterStore keeps runtime trigger filters attached to workflows.
type FilterStore interface{}
