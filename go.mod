module github.com/latchkit/latch

go 1.26.0

require (
	github.com/alexedwards/scs/v2 v2.9.0
	github.com/coreos/go-oidc/v3 v3.21.0
	github.com/go-jose/go-jose/v4 v4.1.9
	github.com/nyaruka/phonenumbers v1.8.1
	github.com/tencentcloud/tencentcloud-sdk-go v1.0.162
	golang.org/x/net v0.60.0
	golang.org/x/oauth2 v0.38.0
	golang.org/x/sync v0.25.0
	golang.org/x/text v0.44.0
)

require (
	github.com/stretchr/testify v1.12.1 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)
