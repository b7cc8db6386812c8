package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// maxBatchesPerRun bounds one run of the background cleaner, so that a
// backlog is worked off over several runs instead of in one long burst.
const maxBatchesPerRun = 100

// Deleted counts the rows that [Store.DeleteExpired] removed, by table.
type Deleted struct {
	Challenges, Counters, Sessions int64
}

// Total returns the number of rows deleted from all tables.
func (d Deleted) Total() int64 { return d.Challenges + d.Counters + d.Sessions }

// DeleteExpired deletes up to limit expired rows from each table in one
// statement: challenges, counters and sessions whose expiry, by
// Options.Now, passed more than a minute ago. Rows that another
// transaction has locked are skipped, so any number of instances may call
// it at once without waiting for each other or for requests. Call it in a
// loop while it returns limit rows for a table to clear a backlog. The
// background cleaner does this; sites that turn it off may call
// DeleteExpired from their own scheduler.
func (s *Store) DeleteExpired(ctx context.Context, limit int) (Deleted, error) {
	if limit < 1 {
		return Deleted{}, fmt.Errorf("%w: DeleteExpired limit is %d, want 1 or more", ErrInvalidOptions, limit)
	}
	var d Deleted
	octx, cancel := s.op(ctx)
	defer cancel()
	err := s.pool.QueryRow(octx, s.sql.deleteExpired, s.now().Add(-expiryGrace), limit).
		Scan(&d.Challenges, &d.Counters, &d.Sessions)
	if err != nil {
		return Deleted{}, s.wrap(ctx, octx, "delete expired rows", err)
	}
	return d, nil
}

// clean runs the background cleaner until Close.
func (s *Store) clean(interval time.Duration) {
	defer close(s.done)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.stop
		cancel()
	}()
	for {
		select {
		case <-s.stop:
			return
		case <-ticker.C:
			s.cleanOnce(ctx)
		}
	}
}

// cleanOnce deletes expired rows in batches until a batch comes back short
// for every table, or maxBatchesPerRun batches have run.
func (s *Store) cleanOnce(ctx context.Context) {
	var total Deleted
	for range maxBatchesPerRun {
		d, err := s.DeleteExpired(ctx, s.batch)
		if err != nil {
			if ctx.Err() == nil {
				// One line per run at most: the next run retries.
				s.log.LogAttrs(ctx, slog.LevelError, "store/postgres: deleting expired rows failed; retrying at the next run",
					slog.String("server", s.target), slog.Any("error", err))
			}
			return
		}
		total.Challenges += d.Challenges
		total.Counters += d.Counters
		total.Sessions += d.Sessions
		full := int64(s.batch)
		if d.Challenges < full && d.Counters < full && d.Sessions < full {
			break
		}
	}
	if total.Total() > 0 {
		s.log.LogAttrs(ctx, slog.LevelDebug, "store/postgres: deleted expired rows",
			slog.Int64("challenges", total.Challenges), slog.Int64("counters", total.Counters),
			slog.Int64("sessions", total.Sessions))
	}
}
