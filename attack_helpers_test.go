package latch

import "log/slog"

// discardLogger returns a logger for tests that do not read the logs.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
