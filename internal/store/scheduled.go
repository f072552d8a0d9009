package store

// ScheduleStore keeps delayed events until they are due.
type ScheduleStore interface{}
