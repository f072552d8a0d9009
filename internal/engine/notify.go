package engine

import "sync"

// notifier wakes long-polling workers the moment work for one of their workflows is
// ready. Wake-ups are never dropped: a waiter's channel has room for one pending signal,
// and a waiter registers before it checks the queue, so work made ready between its check
// and its wait still wakes it.
type notifier struct {
	mu      sync.Mutex
	tenants map[string]map[*waiter]struct{}
}

type waiter struct {
	workflows map[string]bool
	ch        chan struct{}
}

func newNotifier() *notifier {
	return &notifier{tenants: map[string]map[*waiter]struct{}{}}
}

func (n *notifier) add(tenantID string, workflows []string) *waiter {
	w := &waiter{workflows: make(map[string]bool, len(workflows)), ch: make(chan struct{}, 1)}
	for _, wf := range workflows {
		w.workflows[wf] = true
	}
	n.mu.Lock()
	m := n.tenants[tenantID]
	if m == nil {
		m = map[*waiter]struct{}{}
		n.tenants[tenantID] = m
	}
	m[w] = struct{}{}
	n.mu.Unlock()
	return w
}

func (n *notifier) remove(tenantID string, w *waiter) {
	n.mu.Lock()
	if m := n.tenants[tenantID]; m != nil {
		delete(m, w)
		if len(m) == 0 {
			delete(n.tenants, tenantID)
		}
	}
	n.mu.Unlock()
}

// notify signals every waiter of the tenant that runs workflow.
func (n *notifier) notify(tenantID, workflow string) {
	n.mu.Lock()
	for w := range n.tenants[tenantID] {
		if w.workflows[workflow] {
			select {
			case w.ch <- struct{}{}:
			default:
			}
		}
	}
	n.mu.Unlock()
}

// wakeAll signals every waiter (shutdown).
func (n *notifier) wakeAll() {
	n.mu.Lock()
	for _, m := range n.tenants {
		for w := range m {
			select {
			case w.ch <- struct{}{}:
			default:
			}
		}
	}
	n.mu.Unlock()
}
