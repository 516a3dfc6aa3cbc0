package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/sagaboard/sagaboard/services/rabbit"
)

// setupBroker is `sagaboard setup-broker`: it provisions a vhost with one
// broker user per part and writes their credentials to the data folder.
func setupBroker(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	env := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("sagaboard setup-broker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o rabbit.ProvisionOptions
	fs.StringVar(&o.URL, "amqp", env("AMQP_URL", "amqp://guest:guest@localhost:5672/sagaboard"), "the broker and the vhost to provision, as an administrator (the vhost may not be /) [AMQP_URL]")
	fs.StringVar(&o.Dir, "data", env("SAGABOARD_DATA", "./data"), "the data folder to write "+rabbit.CredentialsFile+" to [SAGABOARD_DATA]")
	fs.BoolVar(&o.Quorum, "quorum", env("SAGABOARD_QUORUM", "") == "true", "declare the work queues as quorum queues, for a RabbitMQ cluster [SAGABOARD_QUORUM]")
	fs.StringVar(&o.Tap, "tap", env("SAGABOARD_TAP", ""), "the observer's tap: classic or stream, see the server's -tap (default classic, stream with -quorum) [SAGABOARD_TAP]")
	retention := fs.String("tap-retention", env("SAGABOARD_TAP_RETENTION", "1GB"), "how much a stream tap keeps, e.g. 500MB or 2GB [SAGABOARD_TAP_RETENTION]")
	fs.StringVar(&o.Management, "management", "", "provision through the management API at this URL, e.g. http://guest:guest@127.0.0.1:15672, instead of rabbitmqctl")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("setup-broker: unexpected argument %q; every option is a flag, see -help", fs.Arg(0))
	}
	o.Tap = defaultTap(o.Tap, o.Quorum)
	if err := checkTap(o.Tap); err != nil {
		return fmt.Errorf("setup-broker: %w", err)
	}
	var err error
	if o.TapRetention, err = parseBytes(*retention); err != nil {
		return fmt.Errorf("setup-broker: -tap-retention: %w", err)
	}
	creds, err := rabbit.Provision(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "provisioned vhost %q with one broker user per part; credentials in %s (mode 0600)\n", creds.Vhost, filepath.Join(o.Dir, rabbit.CredentialsFile))
	fmt.Fprintf(stdout, "start the server with -data %s; a process of its own for a part needs only that part's entry\n", o.Dir)
	return nil
}
