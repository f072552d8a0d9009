package dashboard

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/api"
	"github.com/heraldhq/herald/internal/engine"
	"github.com/heraldhq/herald/internal/store"
)

// pageSize is how many rows a list page shows.
const pageSize = 50

// redirect sends the browser to path with a notice.
func redirect(w http.ResponseWriter, r *http.Request, path, flash string) {
	if flash != "" {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "flash=" + url.QueryEscape(flash)
	}
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// cursorParam reads a list cursor: the id of a page's last item. Anything else reads as
// no cursor (the first page).
func cursorParam(r *http.Request, name string) string {
	c := r.URL.Query().Get(name)
	if !store.ValidID(c) {
		return ""
	}
	return c
}

// ---- Events ----

// eventsForm is the events page's filter form, as typed.
type eventsForm struct {
	Key, Prefix, Meta, Since, Until, TZ string
}

func (f eventsForm) Query(extra ...string) string {
	return query(append([]string{"key", f.Key, "prefix", f.Prefix, "meta", f.Meta, "since", f.Since, "until", f.Until, "tz", f.TZ}, extra...)...)
}

// Active reports whether any filter is set.
func (f eventsForm) Active() bool {
	return f.Key != "" || f.Prefix != "" || f.Meta != "" || f.Since != "" || f.Until != ""
}

// parseLocal reads a datetime-local value typed in a browser whose UTC offset is tz
// minutes (JavaScript's getTimezoneOffset; UTC when empty).
func parseLocal(field, v, tz string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	var t time.Time
	var err error
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02T15:04:05.000", time.RFC3339Nano} {
		if t, err = time.Parse(layout, v); err == nil {
			break
		}
	}
	if err != nil {
		return t, &engine.FieldError{Field: field, Message: fmt.Sprintf("%q is not a date and time like 2026-01-02T15:04", v)}
	}
	if off, err := strconv.Atoi(tz); err == nil && off >= -24*60 && off <= 24*60 && !strings.HasSuffix(v, "Z") {
		t = t.Add(time.Duration(off) * time.Minute)
	}
	return t.UTC(), nil
}

func (f eventsForm) filter() (store.EventFilter, error) {
	ef := store.EventFilter{Key: strings.TrimSpace(f.Key), KeyPrefix: strings.TrimSpace(f.Prefix)}
	if ef.Key != "" {
		if err := engine.ValidateKey("key", ef.Key); err != nil {
			return ef, err
		}
	}
	if ef.KeyPrefix != "" {
		if err := engine.ValidateKey("prefix", ef.KeyPrefix); err != nil {
			return ef, err
		}
	}
	for _, part := range strings.Split(f.Meta, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return ef, &engine.FieldError{Field: "metadata", Message: fmt.Sprintf("%q is not name=value", part)}
		}
		if err := api.ValidMetadataName(k); err != nil {
			return ef, &engine.FieldError{Field: "metadata", Message: err.Error()}
		}
		if err := engine.CheckMetadataFilter("metadata", k, v); err != nil {
			return ef, err
		}
		if ef.Metadata == nil {
			ef.Metadata = map[string]string{}
		}
		ef.Metadata[k] = v
		if err := engine.CheckMetadataFilterCount("metadata", len(ef.Metadata)); err != nil {
			return ef, err
		}
	}
	var err error
	if ef.Since, err = parseLocal("from", f.Since, f.TZ); err != nil {
		return ef, err
	}
	if ef.Until, err = parseLocal("to", f.Until, f.TZ); err != nil {
		return ef, err
	}
	return ef, nil
}

func readEventsForm(r *http.Request) eventsForm {
	q := r.URL.Query()
	return eventsForm{Key: q.Get("key"), Prefix: q.Get("prefix"), Meta: q.Get("meta"), Since: q.Get("since"), Until: q.Get("until"), TZ: q.Get("tz")}
}

type eventRow struct {
	store.Event
	Started, Skipped int
}

func eventRows(evs []store.Event) []eventRow {
	out := make([]eventRow, len(evs))
	for i, e := range evs {
		out[i].Event = e
		for _, t := range e.Triggers {
			if t.RunID != "" {
				out[i].Started++
			} else {
				out[i].Skipped++
			}
		}
	}
	return out
}

type eventsData struct {
	Form   eventsForm
	Rows   []eventRow
	Next   string // query of the next page, "" on the last
	Newest string // newest id shown, for live updates
	Live   bool   // first page: new events are added as they arrive
	First  bool
	Error  string
}

func (d *Dashboard) events(w http.ResponseWriter, r *http.Request, s *store.Session) error {
	form := readEventsForm(r)
	data := eventsData{Form: form}
	before := cursorParam(r, "before")
	data.First = before == ""
	f, err := form.filter()
	var fe *engine.FieldError
	if errors.As(err, &fe) {
		data.Error = fe.Error()
		d.render(w, r, http.StatusBadRequest, "events", page{Title: "Events", Nav: "events", Session: s, Data: data})
		return nil
	}
	f.Before, f.Limit = before, pageSize+1
	evs, err := d.st.EventList(r.Context(), s.TenantID, f)
	if err != nil {
		return err
	}
	if len(evs) > pageSize {
		evs = evs[:pageSize]
		data.Next = form.Query("before", evs[pageSize-1].ID)
	}
	data.Rows = eventRows(evs)
	data.Live = data.First && f.Until.IsZero()
	if len(evs) > 0 {
		data.Newest = evs[0].ID
	}
	d.render(w, r, http.StatusOK, "events", page{Title: "Events", Nav: "events", Session: s, Data: data})
	return nil
}

// eventRows answers the events page's live polling: rows newer than ?after, newest first.
func (d *Dashboard) eventRows(w http.ResponseWriter, r *http.Request, s *store.Session) error {
	form := readEventsForm(r)
	f, err := form.filter()
	if err != nil {
		return err
	}
	f.After, f.Limit = cursorParam(r, "after"), pageSize
	evs, err := d.st.EventList(r.Context(), s.TenantID, f)
	if err != nil {
		return err
	}
	d.renderFragment(w, "events", "event-rows", eventRows(evs))
	return nil
}

type triggerRow struct {
	store.TriggerDecision
	Status string
}

type eventData struct {
	Event     store.Event
	Triggered []triggerRow
	Skipped   []store.TriggerDecision
	// Runs lists runs of the event that its trigger decisions do not name (none, normally).
	Runs      []store.Run
	ParentRun *store.Run
}

func (d *Dashboard) event(w http.ResponseWriter, r *http.Request, s *store.Session) error {
	ctx := r.Context()
	ev, sched, err := d.eng.GetEvent(ctx, s.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	if sched != nil { // a delayed event, not delivered
		d.render(w, r, http.StatusOK, "scheduled_event", page{Title: "Delayed event " + sched.Key, Nav: "events", Session: s, Data: *sched})
		return nil
	}
	runs, err := d.st.RunList(ctx, s.TenantID, store.RunFilter{EventID: ev.ID, Limit: 1000})
	if err != nil {
		return err
	}
	byID := map[string]store.Run{}
	for _, run := range runs {
		byID[run.ID] = run
	}
	data := eventData{Event: ev}
	for _, t := range ev.Triggers {
		if t.RunID == "" {
			data.Skipped = append(data.Skipped, t)
			continue
		}
		row := triggerRow{TriggerDecision: t, Status: "pruned"}
		if run, ok := byID[t.RunID]; ok {
			row.Status = run.Status
			delete(byID, t.RunID)
		}
		data.Triggered = append(data.Triggered, row)
	}
	for _, run := range runs {
		if _, ok := byID[run.ID]; ok {
			data.Runs = append(data.Runs, run)
		}
	}
	if ev.ParentRunID != "" {
		if pr, _, err := d.st.RunGet(ctx, s.TenantID, ev.ParentRunID); err == nil {
			data.ParentRun = &pr
		}
	}
	d.render(w, r, http.StatusOK, "event", page{Title: "Event " + ev.Key, Nav: "events", Session: s, Data: data})
	return nil
}

// scheduledData is the delayed events page: the tenant's events waiting for delivery,
// newest first.
type scheduledData struct {
	Rows []store.ScheduledEvent
	Next string
}

func (d *Dashboard) scheduled(w http.ResponseWriter, r *http.Request, s *store.Session) error {
	rows, err := d.st.ScheduledList(r.Context(), store.ScheduledListParams{
		TenantID: s.TenantID,
		Status:   store.ScheduledPending,
		Filter:   store.EventFilter{Before: cursorParam(r, "before"), Limit: pageSize + 1},
	})
	if err != nil {
		return err
	}
	data := scheduledData{Rows: rows}
	if len(rows) > pageSize {
		data.Rows = rows[:pageSize]
		data.Next = "/scheduled?before=" + url.QueryEscape(rows[pageSize-1].ID)
	}
	d.render(w, r, http.StatusOK, "scheduled", page{Title: "Delayed events", Nav: "events", Session: s, Data: data})
	return nil
}

func (d *Dashboard) cancelScheduled(w http.ResponseWriter, r *http.Request, s *store.Session) error {
	id := r.PathValue("id")
	if _, err := d.eng.CancelScheduled(r.Context(), s.TenantID, id); err != nil {
		return err
	}
	redirect(w, r, "/events/"+id, "Cancelled: the event will not be delivered.")
	return nil
}

func (d *Dashboard) replayEvent(w http.ResponseWriter, r *http.Request, s *store.Session) error {
	res, err := d.eng.Replay(r.Context(), s.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	redirect(w, r, "/events/"+res.Event.ID, fmt.Sprintf("Replayed as a new event: %d %s started.", len(res.Runs), pluralWord(len(res.Runs), "run", "runs")))
	return nil
}

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// ---- Runs ----

var runStatuses = []string{store.RunQueued, store.RunRunning, store.RunSucceeded, store.RunFailed, store.RunCancelled}

type runsData struct {
	Workflow, Status string
	Workflows        []string
	Statuses         []string
	Runs             []store.Run
	Next             string
}

func (d *Dashboard) runs(w http.ResponseWriter, r *http.Request, s *store.Session) error {
	q := r.URL.Query()
	data := runsData{Workflow: q.Get("workflow"), Status: q.Get("status"), Statuses: runStatuses}
	if data.Status != "" && !contains(runStatuses, data.Status) {
		data.Status = ""
	}
	wfs, err := d.st.WorkflowList(r.Context(), s.TenantID)
	if err != nil {
		return err
	}
	for _, wf := range wfs {
		data.Workflows = append(data.Workflows, wf.Name)
	}
	runs, err := d.st.RunList(r.Context(), s.TenantID, store.RunFilter{Workflow: data.Workflow, Status: data.Status,
		Before: cursorParam(r, "before"), Limit: pageSize + 1})
	if err != nil {
		return err
	}
	if len(runs) > pageSize {
		runs = runs[:pageSize]
		data.Next = query("workflow", data.Workflow, "status", data.Status, "before", runs[pageSize-1].ID)
	}
	data.Runs = runs
	d.render(w, r, http.StatusOK, "runs", page{Title: "Runs", Nav: "runs", Session: s, Data: data})
	return nil
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

type stepView struct {
	store.StepRun
	Level int
}

type runData struct {
	Run    store.Run
	Steps  []stepView
	Levels [][]stepView // the DAG, by depth
	Done   bool
	CSRF   string
}

func terminal(status string) bool {
	return status == store.RunSucceeded || status == store.RunFailed || status == store.RunCancelled
}

func (d *Dashboard) runData(r *http.Request, s *store.Session) (runData, error) {
	run, steps, err := d.st.RunGet(r.Context(), s.TenantID, r.PathValue("id"))
	if err != nil {
		return runData{}, err
	}
	data := runData{Run: run, Done: terminal(run.Status), CSRF: s.CSRF}
	level := map[string]int{}
	// Steps come in definition order, where parents precede children.
	for _, st := range steps {
		l := 0
		for _, p := range st.Parents {
			l = max(l, level[p]+1)
		}
		level[st.Step] = l
		data.Steps = append(data.Steps, stepView{StepRun: st, Level: l})
	}
	for _, sv := range data.Steps {
		for len(data.Levels) <= sv.Level {
			data.Levels = append(data.Levels, nil)
		}
		data.Levels[sv.Level] = append(data.Levels[sv.Level], sv)
	}
	return data, nil
}

func (d *Dashboard) run(w http.ResponseWriter, r *http.Request, s *store.Session) error {
	data, err := d.runData(r, s)
	if err != nil {
		return err
	}
	d.render(w, r, http.StatusOK, "run", page{Title: "Run of " + data.Run.WorkflowName, Nav: "runs", Session: s, Data: data})
	return nil
}

// runLive answers a run page's live polling with the run's body.
func (d *Dashboard) runLive(w http.ResponseWriter, r *http.Request, s *store.Session) error {
	data, err := d.runData(r, s)
	if err != nil {
		return err
	}
	d.renderFragment(w, "run", "run-body", data)
	return nil
}

func (d *Dashboard) cancelRun(w http.ResponseWriter, r *http.Request, s *store.Session) error {
	id := r.PathValue("id")
	if _, err := d.eng.CancelRun(r.Context(), s.TenantID, id); err != nil {
		if errors.Is(err, store.ErrConflict) {
			redirect(w, r, "/runs/"+id, "The run had already ended.")
			return nil
		}
		return err
	}
	redirect(w, r, "/runs/"+id, "Run cancelled.")
	return nil
}

func (d *Dashboard) replayRun(w http.ResponseWriter, r *http.Request, s *store.Session) error {
	run, _, err := d.st.RunGet(r.Context(), s.TenantID, r.PathValue("id"))
	if err != nil {
		return err
	}
	ref, err := d.eng.StartRun(r.Context(), s.TenantID, run.WorkflowName, run.Input)
	if err != nil {
		return err
	}
	redirect(w, r, "/runs/"+ref.RunID, fmt.Sprintf("Started a new run of %s (version %d) with the same input.", ref.Workflow, ref.Version))
	return nil
}

// ---- Workflows ----

// windows are the choices of the workflows page's statistics window.
var windows = []struct {
	Key   string
	Label string
	D     time.Duration
}{{"1h", "last hour", time.Hour}, {"24h", "last 24 hours", 24 * time.Hour}, {"7d", "last 7 days", 7 * 24 * time.Hour}, {"30d", "last 30 days", 30 * 24 * time.Hour}}

type workflowRow struct {
	store.Workflow
	Stats       store.WorkflowStats
	SuccessRate string
}

type workflowsData struct {
	Window  string
	Windows []struct {
		Key   string
		Label string
		D     time.Duration
	}
	Rows []workflowRow
}

func windowParam(r *http.Request) (string, time.Duration) {
	k := r.URL.Query().Get("window")
	for _, w := range windows {
		if w.Key == k {
			return w.Key, w.D
		}
	}
	return windows[1].Key, windows[1].D
}

func successRate(st store.WorkflowStats) string {
	n := st.Succeeded + st.Failed
	if n == 0 {
		return "—"
	}
	return trimFloat(float64(st.Succeeded)*100/float64(n)) + "%"
}

func (d *Dashboard) workflows(w http.ResponseWriter, r *http.Request, s *store.Session) error {
	key, win := windowParam(r)
	wfs, err := d.st.WorkflowList(r.Context(), s.TenantID)
	if err != nil {
		return err
	}
	stats, err := d.st.StatsWorkflows(r.Context(), s.TenantID, time.Now().Add(-win))
	if err != nil {
		return err
	}
	byName := map[string]store.WorkflowStats{}
	for _, st := range stats {
		byName[st.Workflow] = st
	}
	data := workflowsData{Window: key, Windows: windows}
	for _, wf := range wfs {
		st := byName[wf.Name]
		data.Rows = append(data.Rows, workflowRow{Workflow: wf, Stats: st, SuccessRate: successRate(st)})
	}
	d.render(w, r, http.StatusOK, "workflows", page{Title: "Workflows", Nav: "workflows", Session: s, Data: data})
	return nil
}

type workflowData struct {
	Workflow store.Workflow // the version shown
	Current  int
	Versions []int
	Stats    store.WorkflowStats
	Rate     string
	Window   string
	Windows  []struct {
		Key   string
		Label string
		D     time.Duration
	}
	Input      string
	InputError string
	Recent     []store.Run
}

func (d *Dashboard) workflowData(r *http.Request, s *store.Session) (workflowData, error) {
	ctx := r.Context()
	name := r.PathValue("name")
	cur, err := d.st.WorkflowGet(ctx, store.WorkflowGetParams{TenantID: s.TenantID, Name: name})
	if err != nil {
		return workflowData{}, err
	}
	key, win := windowParam(r)
	data := workflowData{Workflow: cur, Current: cur.Version, Window: key, Windows: windows, Input: "{\n  \n}"}
	if v, err := strconv.Atoi(r.URL.Query().Get("version")); err == nil && v >= 1 && v != cur.Version {
		wf, err := d.st.WorkflowGet(ctx, store.WorkflowGetParams{TenantID: s.TenantID, Name: name, Version: v})
		if err != nil {
			return data, err
		}
		data.Workflow = wf
		data.Workflow.Active = cur.Active
	}
	for v := cur.Version; v >= 1; v-- {
		data.Versions = append(data.Versions, v)
	}
	stats, err := d.st.StatsWorkflows(ctx, s.TenantID, time.Now().Add(-win))
	if err != nil {
		return data, err
	}
	for _, st := range stats {
		if st.Workflow == name {
			data.Stats = st
		}
	}
	data.Rate = successRate(data.Stats)
	data.Recent, err = d.st.RunList(ctx, s.TenantID, store.RunFilter{Workflow: name, Limit: 10})
	return data, err
}

func (d *Dashboard) workflow(w http.ResponseWriter, r *http.Request, s *store.Session) error {
	data, err := d.workflowData(r, s)
	if err != nil {
		return err
	}
	d.render(w, r, http.StatusOK, "workflow", page{Title: "Workflow " + data.Workflow.Name, Nav: "workflows", Session: s, Data: data})
	return nil
}

func (d *Dashboard) setActive(w http.ResponseWriter, r *http.Request, s *store.Session) error {
	name := r.PathValue("name")
	active := r.PostFormValue("active") == "true"
	wf, err := d.eng.SetWorkflowActive(r.Context(), s.TenantID, name, active)
	if err != nil {
		return err
	}
	back := "/workflows"
	if r.PostFormValue("back") == "workflow" {
		back = "/workflows/" + url.PathEscape(name)
	}
	state := "disabled: new events skip it"
	if wf.Active {
		state = "enabled: new events start it"
	}
	redirect(w, r, back, fmt.Sprintf("%s is %s.", wf.Name, state))
	return nil
}

// validInput checks a debug run's input: a JSON object.
func validInput(in string) error {
	in = strings.TrimSpace(in)
	if in == "" {
		return nil
	}
	if !json.Valid([]byte(in)) {
		var v any
		err := json.Unmarshal([]byte(in), &v)
		return fmt.Errorf("The input is not valid JSON: %v", err)
	}
	if in[0] != '{' {
		return errors.New("The input must be a JSON object, like {\"user_id\": \"u_1\"}.")
	}
	return nil
}

func (d *Dashboard) startRun(w http.ResponseWriter, r *http.Request, s *store.Session) error {
	r.Body = http.MaxBytesReader(w, r.Body, 2<<20)
	name := r.PathValue("name")
	in := r.PostFormValue("input")
	if err := validInput(in); err != nil {
		data, derr := d.workflowData(r, s)
		if derr != nil {
			return derr
		}
		data.Input, data.InputError = in, err.Error()
		d.render(w, r, http.StatusBadRequest, "workflow", page{Title: "Workflow " + name, Nav: "workflows", Session: s, Data: data})
		return nil
	}
	ref, err := d.eng.StartRun(r.Context(), s.TenantID, name, json.RawMessage(strings.TrimSpace(in)))
	var fe *engine.FieldError
	if errors.As(err, &fe) {
		data, derr := d.workflowData(r, s)
		if derr != nil {
			return derr
		}
		data.Input, data.InputError = in, fe.Error()
		d.render(w, r, http.StatusBadRequest, "workflow", page{Title: "Workflow " + name, Nav: "workflows", Session: s, Data: data})
		return nil
	}
	if err != nil {
		return err
	}
	redirect(w, r, "/runs/"+ref.RunID, fmt.Sprintf("Started a debug run of %s (version %d).", ref.Workflow, ref.Version))
	return nil
}

// ---- Metrics ----

var ranges = []struct {
	Key    string
	Label  string
	D      time.Duration
	Bucket time.Duration
}{{"1h", "Last hour", time.Hour, time.Minute}, {"24h", "Last 24 hours", 24 * time.Hour, 15 * time.Minute}}

type statsData struct {
	Range  string
	Ranges []struct {
		Key    string
		Label  string
		D      time.Duration
		Bucket time.Duration
	}
	Charts                   []chart
	Events, Runs, Failed     int
	QueueDepth               int
	BucketLabel, SampleSince string
}

func (d *Dashboard) stats(w http.ResponseWriter, r *http.Request, s *store.Session) error {
	rg := ranges[0]
	for _, x := range ranges {
		if x.Key == r.URL.Query().Get("range") {
			rg = x
		}
	}
	now := time.Now().UTC()
	n := int(rg.D / rg.Bucket)
	since := now.Truncate(rg.Bucket).Add(rg.Bucket - rg.D)
	act, err := d.st.StatsActivity(r.Context(), store.ActivityParams{TenantID: s.TenantID, Since: since, Until: since.Add(rg.D), Bucket: rg.Bucket})
	if err != nil {
		return err
	}
	depths, err := d.st.StatsQueueDepths(r.Context())
	if err != nil {
		return err
	}
	data := statsData{Range: rg.Key, Ranges: ranges, QueueDepth: depths[s.TenantID], BucketLabel: fmtDuration(rg.Bucket)}
	zeros := func() []float64 { return make([]float64, n) }
	newChart := func(title, note string, bars bool) chart {
		return chart{Title: title, Note: note, Start: since, Bucket: rg.Bucket, N: n, Bars: bars}
	}
	// Events per minute by source.
	perMinute := rg.Bucket.Minutes()
	bySource := map[string][]float64{}
	var sources []string
	for _, c := range act.Events {
		if c.Bucket < 0 || c.Bucket >= n {
			continue
		}
		if bySource[c.Label] == nil {
			bySource[c.Label] = zeros()
			sources = append(sources, c.Label)
		}
		bySource[c.Label][c.Bucket] += float64(c.Count) / perMinute
		data.Events += c.Count
	}
	sort.Strings(sources)
	ev := newChart("Events per minute, by source", "", true)
	for i, src := range sources {
		ev.Series = append(ev.Series, series{Label: src, Color: colorFor(src, i), Values: bySource[src]})
	}
	// Runs by status, and the error rate.
	byStatus := map[string][]float64{}
	for _, st := range runStatuses {
		byStatus[st] = zeros()
	}
	for _, c := range act.Runs {
		if c.Bucket < 0 || c.Bucket >= n || byStatus[c.Label] == nil {
			continue
		}
		byStatus[c.Label][c.Bucket] += float64(c.Count)
		data.Runs += c.Count
		if c.Label == store.RunFailed {
			data.Failed += c.Count
		}
	}
	rc := newChart("Runs started, by current status", "per "+fmtDuration(rg.Bucket), true)
	rc.Integer = true
	for i, st := range []string{store.RunSucceeded, store.RunFailed, store.RunCancelled, store.RunRunning, store.RunQueued} {
		rc.Series = append(rc.Series, series{Label: st, Color: colorFor(st, i), Values: byStatus[st]})
	}
	errRate := zeros()
	for i := range errRate {
		done := byStatus[store.RunSucceeded][i] + byStatus[store.RunFailed][i]
		if done == 0 {
			errRate[i] = -1
			continue
		}
		errRate[i] = byStatus[store.RunFailed][i] * 100 / done
	}
	er := newChart("Error rate", "failed ÷ finished runs, by start time", false)
	er.Series = []series{{Label: "failed %", Color: palette["failed"], Values: errRate}}
	er.Format = fmtPercent
	// Push → start latency.
	lat := newChart("Push → start latency", "from a run's creation (its event's push) to its first step's start", false)
	lat.Format = fmtMS
	p50, p95, p99 := zeros(), zeros(), zeros()
	for i := range p50 {
		p50[i], p95[i], p99[i] = -1, -1, -1
	}
	for _, lb := range act.StartLatency {
		if lb.Bucket < 0 || lb.Bucket >= n {
			continue
		}
		p50[lb.Bucket] = float64(lb.P50) / float64(time.Millisecond)
		p95[lb.Bucket] = float64(lb.P95) / float64(time.Millisecond)
		p99[lb.Bucket] = float64(lb.P99) / float64(time.Millisecond)
	}
	lat.Series = []series{{"p50", palette["p50"], p50}, {"p95", palette["p95"], p95}, {"p99", palette["p99"], p99}}
	// Queue depth, as sampled by this server.
	qd, sampleSince := d.depth.series(s.TenantID, since, rg.Bucket, n)
	qc := newChart("Queue depth", "", false)
	qc.Integer = true
	if !sampleSince.IsZero() {
		qc.Note = "largest sample per " + fmtDuration(rg.Bucket) + "; sampled by this server every " +
			fmtDuration(d.cfg.SampleInterval) + " since " + sampleSince.UTC().Format("15:04 UTC")
	}
	qc.Series = []series{{Label: "queued steps", Color: "#0d9488", Values: qd}}
	data.Charts = []chart{ev, rc, lat, qc, er}
	d.render(w, r, http.StatusOK, "stats", page{Title: "Metrics", Nav: "stats", Session: s, Data: data})
	return nil
}
