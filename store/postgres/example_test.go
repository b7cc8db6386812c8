package postgres_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/latchkit/latch"
	"github.com/latchkit/latch/otp"
	"github.com/latchkit/latch/store/postgres"
)

// One database keeps the phone codes and the sessions of every instance
// of a site. The example needs a server, so it is compiled but not run.
func ExampleNew() {
	ctx := context.Background()
	s, err := postgres.New(ctx, postgres.Options{URL: os.Getenv("DATABASE_URL"), Schema: "auth"})
	if err != nil {
		log.Fatal(err) // such as: store/postgres: cannot connect to postgres://app@db:5432/shop: ...
	}
	defer s.Close() // stops the background cleaner
	if err := s.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	// Sessions: sign-ins made on one instance are valid on all of them.
	auth, err := latch.New(ctx, latch.Config{
		Issuer:       "https://tenant.logto.app/oidc",
		ClientID:     os.Getenv("OIDC_CLIENT_ID"),
		ClientSecret: os.Getenv("OIDC_CLIENT_SECRET"),
		BaseURL:      "https://shop.example",
		SessionStore: s.Sessions(),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer auth.Close()

	// Phone codes: limits and the daily budget hold across instances.
	codes, err := otp.New(otp.Config{
		Key:           []byte(os.Getenv("OTP_KEY")), // the same on every instance
		Sender:        otp.NewConsoleSender(nil),
		Store:         s,
		DefaultRegion: "CN",
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = codes
}

// Teams that run migrations with their own tool generate the schema for
// their names once and add it as a migration.
func ExampleSchemaSQL() {
	sql, err := postgres.SchemaSQL("auth", "shop_")
	if err != nil {
		log.Fatal(err)
	}
	for _, line := range strings.Split(sql, "\n") {
		if strings.HasPrefix(line, "CREATE") {
			fmt.Println(line)
		}
	}
	// Output:
	// CREATE TABLE IF NOT EXISTS "auth"."shop_challenges" (
	// CREATE INDEX IF NOT EXISTS "shop_challenges_expires_at_idx" ON "auth"."shop_challenges" (expires_at);
	// CREATE TABLE IF NOT EXISTS "auth"."shop_counters" (
	// CREATE INDEX IF NOT EXISTS "shop_counters_expires_at_idx" ON "auth"."shop_counters" (expires_at);
	// CREATE TABLE IF NOT EXISTS "auth"."shop_sessions" (
	// CREATE INDEX IF NOT EXISTS "shop_sessions_expires_at_idx" ON "auth"."shop_sessions" (expires_at);
	// CREATE OR REPLACE FUNCTION "auth"."shop_lock"(p_key text, p_counter_keys text[])
	// CREATE OR REPLACE FUNCTION "auth"."shop_reserve"(
	// CREATE OR REPLACE FUNCTION "auth"."shop_release"(
	// CREATE OR REPLACE FUNCTION "auth"."shop_verify"(
}

// A site that schedules its own maintenance turns the background cleaner
// off and deletes expired rows in bounded batches from a job.
func ExampleStore_DeleteExpired() {
	ctx := context.Background()
	s, err := postgres.New(ctx, postgres.Options{URL: os.Getenv("DATABASE_URL"), CleanupInterval: -1})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	const batch = 500
	for {
		d, err := s.DeleteExpired(ctx, batch)
		if err != nil {
			log.Fatal(err)
		}
		if d.Challenges < batch && d.Counters < batch && d.Sessions < batch {
			break
		}
		time.Sleep(100 * time.Millisecond) // leave room for requests
	}
}
