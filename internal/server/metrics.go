package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/heraldhq/herald/internal/metrics"
)

// listenMetrics serves /metrics without a token on MetricsAddr, when one is set.
func (s *Server) listenMetrics(m *metrics.Metrics) error {
	if s.cfg.MetricsAddr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	s.metricsLn = ln
	// The same bounds as the main listener (Start): a client that sends slowly, or holds
	// an idle connection, is cut off.
	s.metricsHTTP = &http.Server{Handler: mux,
		ReadHeaderTimeout: min(10*time.Second, s.cfg.ReadTimeout),
		ReadTimeout:       s.cfg.ReadTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	go func() {
		if err := s.metricsHTTP.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("serving metrics", "addr", s.cfg.MetricsAddr, "err", err)
		}
	}()
	return nil
}

// MetricsURL returns the URL of the token-free metrics endpoint, or "" without
// MetricsAddr.
func (s *Server) MetricsURL() string {
	if s.metricsLn == nil {
		return ""
	}
	return "http://" + s.metricsLn.Addr().String() + "/metrics"
}
