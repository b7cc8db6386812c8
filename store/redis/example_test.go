package redis_test

import (
	"context"
	"log"
	"os"

	goredis "github.com/redis/go-redis/v9"

	"github.com/latchkit/latch"
	"github.com/latchkit/latch/otp"
	"github.com/latchkit/latch/store/redis"
)

// One Redis keeps the phone codes and the sessions of every instance of a
// site. The example needs a server, so it is compiled but not run.
func ExampleNew() {
	ctx := context.Background()
	s, err := redis.New(ctx, redis.Options{URL: os.Getenv("REDIS_URL"), KeyPrefix: "shop:latch:"})
	if err != nil {
		log.Fatal(err) // such as: store/redis: cannot connect to redis://:xxxxx@10.0.0.5:6379/0: ...
	}
	defer s.Close()

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

// A cluster client needs a key prefix with a hash tag, which keeps every
// key of the store in one hash slot, because each script touches a
// challenge and counters that all requests share.
func ExampleNew_cluster() {
	client := goredis.NewClusterClient(&goredis.ClusterOptions{
		Addrs:                 []string{"10.0.0.5:6379", "10.0.0.6:6379", "10.0.0.7:6379"},
		ContextTimeoutEnabled: true, // so that Options.Timeout can interrupt a read
		MaxRetries:            -1,   // a retried script could run twice
	})
	defer client.Close()
	s, err := redis.New(context.Background(), redis.Options{Client: client, KeyPrefix: "{latch}:"})
	if err != nil {
		log.Fatal(err)
	}
	_ = s
}
