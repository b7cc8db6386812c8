package main

import (
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/latchkit/latch/otp"
	"github.com/latchkit/latch/otp/tencent"
)

// newCodes makes the one-time code service: Tencent Cloud SMS when
// TENCENT_SMS_CONFIG is set, and otherwise a development sender that
// prints codes to the terminal.
func newCodes(s settings, logger *slog.Logger) (*otp.Service, error) {
	regions := make([]string, 0, len(s.regions))
	for _, r := range s.regions {
		if r = strings.TrimSpace(r); r != "" {
			regions = append(regions, r)
		}
	}
	if len(regions) == 0 {
		return nil, fmt.Errorf("LATCH_PHONE_REGIONS lists no region: give ISO 3166-1 codes such as CN,US")
	}
	cfg := otp.Config{
		DefaultRegion:  regions[0],
		AllowedRegions: regions,
		Logger:         logger,
	}

	if s.shared != nil {
		cfg.Store = s.shared.codes
	}
	switch {
	case s.otpKey == "" && s.shared != nil:
		// Every instance must compute the same MAC of a code.
		return nil, fmt.Errorf("LATCH_OTP_KEY is not set: instances that share a store need the same key (64 hex digits, such as the output of openssl rand -hex 32)")
	case s.otpKey == "":
		cfg.InsecureDevelopmentKey = true
	default:
		key, err := hex.DecodeString(s.otpKey)
		if err != nil {
			return nil, fmt.Errorf("LATCH_OTP_KEY is not hex: %w", err)
		}
		cfg.Key = key
	}

	if s.tencentConfig == "" {
		cfg.Sender = otp.NewConsoleSender(s.console)
		logger.Warn("example: phone codes are printed to the terminal, not sent: set TENCENT_SMS_CONFIG to send them by SMS")
	} else {
		sender, err := newTencentSender(s, logger)
		if err != nil {
			return nil, err
		}
		cfg.Sender = sender
		endpoint := s.tencentEndpoint
		if endpoint == "" {
			endpoint = tencent.DefaultEndpoint
		}
		logger.Info("example: phone codes are sent by Tencent Cloud SMS", "endpoint", endpoint)
	}
	codes, err := otp.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("setting up phone codes: %w", err)
	}
	return codes, nil
}

// newTencentSender reads the connector JSON from TENCENT_SMS_CONFIG, or
// from the file it names.
func newTencentSender(s settings, logger *slog.Logger) (*tencent.Sender, error) {
	raw := []byte(s.tencentConfig)
	if !strings.HasPrefix(strings.TrimSpace(s.tencentConfig), "{") {
		var err error
		if raw, err = os.ReadFile(s.tencentConfig); err != nil {
			return nil, fmt.Errorf("TENCENT_SMS_CONFIG is neither connector JSON nor a readable file: %w", err)
		}
	}
	cfg, err := tencent.ParseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("TENCENT_SMS_CONFIG: %w", err)
	}
	sender, err := tencent.New(cfg, tencent.Options{Endpoint: s.tencentEndpoint, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("TENCENT_SMS_CONFIG: %w", err)
	}
	return sender, nil
}
