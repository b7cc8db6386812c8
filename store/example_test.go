package store_test

import (
	"context"
	"fmt"
	"time"

	"github.com/latchkit/latch/store"
)

func ExampleMemory() {
	ctx := context.Background()
	s, err := store.NewMemory(store.MemoryOptions{})
	if err != nil {
		panic(err)
	}
	now := time.Date(2030, 1, 1, 10, 0, 0, 0, time.UTC)
	challenge := store.Challenge{
		ID:        "c1",
		MAC:       []byte("mac of the code, computed by the caller"),
		ExpiresAt: now.Add(5 * time.Minute),
		ResendAt:  now.Add(time.Minute),
		Attempts:  5,
	}
	perHour := store.Limit{Key: "phone:+8613800138000", Max: 5, Window: time.Hour}

	r, err := s.Reserve(ctx, "SignIn:+8613800138000", challenge, []store.Limit{perHour}, now)
	fmt.Println("stored:", r.OK(), err)

	r, _ = s.Reserve(ctx, "SignIn:+8613800138000", challenge, []store.Limit{perHour}, now.Add(10*time.Second))
	fmt.Println("resend refused by:", r.Refused, "until", r.RetryAt.Format(time.TimeOnly))

	v, _ := s.Verify(ctx, "SignIn:+8613800138000", []byte("a wrong mac"), now.Add(20*time.Second))
	fmt.Println(v.Outcome, "attempts left:", v.AttemptsLeft)

	v, _ = s.Verify(ctx, "SignIn:+8613800138000", challenge.MAC, now.Add(30*time.Second))
	fmt.Println(v.Outcome)
	// Output:
	// stored: true <nil>
	// resend refused by: cooldown until 10:01:00
	// mismatch attempts left: 4
	// match
}
