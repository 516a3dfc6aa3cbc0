package rabbit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/sagaboard/sagaboard/services/saga"
)

// headersSchema describes a message's AMQP properties, by their AMQP names,
// and its application headers, as one object: that is what a consumer sees.
func headersSchema(typ string, senders []string, caused bool) *obj {
	required := []any{"message_id", "type", "user_id", "content_type", "delivery_mode", hdrSource, hdrPublishedMS}
	text := newObj("type", "string", "minLength", 1, "maxLength", 64)
	source := newObj("type", "string", "minLength", 1)
	if len(senders) > 0 {
		source = newObj("enum", toAny(senders))
	}
	props := newObj(
		"message_id", newObj("description", "AMQP message-id; unique per message, so consumers dedupe on it.", "type", "string", "minLength", 1, "maxLength", 64),
		"correlation_id", newObj("description", "AMQP correlation-id: the booking id.", "type", "string", "minLength", 1, "maxLength", 64),
		"type", newObj("description", "AMQP type: the message type.", "const", typ),
		"user_id", newObj("description", "AMQP user-id: the publishing connection's broker user, which the broker validates.", "type", "string", "minLength", 1),
		"content_type", newObj("const", "application/json"),
		"delivery_mode", newObj("description", "2: persistent.", "const", 2),
		"app_id", newObj("type", "string"),
		"timestamp", newObj("description", "AMQP timestamp, Unix seconds.", "type", "integer"),
		hdrSource, newObj("description", "The part that published it.", "allOf", []any{source}),
		hdrPublishedMS, newObj("description", "When it was published, Unix milliseconds.", "type", "integer", "minimum", 0),
		hdrAttempt, newObj("description", "On a retry: 1 for the first.", "type", "integer", "minimum", 1),
		hdrCausedBy, newObj("description", "The message_id of the message whose handling made this one.", "allOf", []any{text}),
		hdrDeadQueue, newObj("description", "On a dead letter and its replay: the queue it died in.", "type", "string"),
		hdrDeadReason, newObj("description", "On a dead letter and its replay: why it died.", "type", "string"),
		hdrOriginalSender, newObj("description", "On a dead letter and its replay: the user_id it was first published with.", "type", "string"),
		"traceparent", newObj("description", "W3C Trace Context.", "type", "string", "pattern", "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"),
		"tracestate", newObj("description", "W3C Trace Context.", "type", "string"),
		"x-death", newObj("description", "Added by the broker when it dead-letters the message.", "type", "array"),
	)
	if typ == saga.TypeSwitchesChanged || typ == saga.TypeHello || typ == saga.TypePresence {
		props.set("correlation_id", newObj("type", "string", "maxLength", 0))
	} else {
		required = append(required, "correlation_id")
	}
	if caused {
		required = append(required, hdrCausedBy)
	}
	return newObj(
		"type", "object",
		"required", required,
		"properties", props,
		"patternProperties", newObj("^x-(first|last)-death-", newObj()),
		"additionalProperties", false,
	)
}

func bookingSchema() *obj {
	return newObj(
		"type", "object",
		"required", []any{"id", "user_id", "seats", "amount_cents"},
		"properties", newObj(
			"id", newObj("type", "string", "minLength", 1, "maxLength", 64, "pattern", `^[^\x00-\x1f\x7f]+$`),
			"user_id", newObj("type", "string", "minLength", 1, "maxLength", saga.MaxUserIDLen, "pattern", `^[^\x00-\x1f\x7f]+$`),
			"seats", newObj("type", "array", "minItems", 1, "maxItems", saga.MaxSeatsPerBooking,
				"items", newObj("type", "string", "pattern", "^[A-Z]{1,3}[1-9][0-9]{0,3}$")),
			"amount_cents", newObj("description", fmt.Sprintf("%d per seat.", saga.PricePerSeat), "type", "integer",
				"minimum", saga.Amount(1), "maximum", saga.Amount(saga.MaxSeatsPerBooking), "multipleOf", saga.PricePerSeat),
		),
		"additionalProperties", false,
	)
}

func envelopeSchema() *obj {
	return newObj(
		"description", "The JSON body of every saga message; it keeps the seed article's field names (booking, event, isSuccess). Unknown fields are refused.",
		"type", "object",
		"required", []any{"booking"},
		"properties", newObj(
			"booking", ref("components", "schemas", "Booking"),
			"event", newObj("description", "The failure that started compensation, carried along the undo chain.", "enum", toAny(failures)),
			"isSuccess", newObj("type", "boolean"),
			"reason", newObj("description", "Why a step failed or what an undo did, in words a person reads.", "type", "string", "maxLength", 1024),
			"cause", newObj("description", "The original failure, carried unchanged along the undo chain.", "type", "string", "maxLength", 1024),
			"injected", newObj("description", "True when reason comes from a failure switch, not a real failure.", "type", "boolean"),
			"refunded_cents", newObj("description", "On PaymentRefunded: what was refunded.", "type", "integer", "minimum", 0),
		),
		"additionalProperties", false,
	)
}

func switchStateSchema() *obj {
	sw := newObj(
		"type", "object",
		"properties", newObj(
			"fail_rate", newObj("type", "number", "minimum", 0, "maximum", 1),
			"delay_ms", newObj("type", "integer", "minimum", 0, "maximum", saga.MaxDelayMS),
			"paused", newObj("type", "boolean"),
			"fail_next", newObj("type", "integer", "minimum", 0, "maximum", saga.MaxFailNext),
			"user_id", newObj("type", "string", "maxLength", saga.MaxUserIDLen),
			"fail_next_id", newObj("type", "string"),
		),
	)
	parts := newObj()
	for _, p := range saga.SwitchParts {
		parts.set(p, sw)
	}
	return newObj(
		"description", "The failure switches with the stamp of the change that made them; the later stamp wins.",
		"type", "object",
		"required", []any{"at", "by", "switches"},
		"properties", newObj(
			"at", newObj("description", "Unix milliseconds of the change.", "type", "integer"),
			"by", newObj("description", "The process that made it.", "type", "string"),
			"switches", newObj("type", "object", "properties", parts, "additionalProperties", false),
		),
	)
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func list(ss []string) string {
	switch len(ss) {
	case 0:
		return "nothing"
	case 1:
		return ss[0]
	}
	return strings.Join(ss[:len(ss)-1], ", ") + " and " + ss[len(ss)-1]
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// plain matches a string YAML reads back as the same string without quotes.
var plain = regexp.MustCompile(`^[A-Za-z$][A-Za-z0-9_.\-/$]*$`)

func yamlScalar(s string) string {
	switch strings.ToLower(s) {
	case "y", "n", "yes", "no", "true", "false", "on", "off", "null", "~":
		return strconv.Quote(s)
	}
	if plain.MatchString(s) {
		return s
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// writeYAML writes v, made of *obj, []any, strings, numbers and booleans,
// as block-style YAML. Every string that is not plain is written as a JSON
// string, which YAML reads the same.
func writeYAML(b *bytes.Buffer, v any, indent int) {
	pad := strings.Repeat("  ", indent)
	switch v := v.(type) {
	case *obj:
		for _, k := range v.keys {
			b.WriteString(pad + yamlScalar(k) + ":")
			writeChild(b, v.vals[k], indent)
		}
	case []any:
		for _, e := range v {
			b.WriteString(pad + "-")
			if o, ok := e.(*obj); ok && len(o.keys) > 0 {
				// The first key on the dash's line, the rest under it.
				var inner bytes.Buffer
				writeYAML(&inner, o, indent+1)
				b.WriteString(" " + strings.TrimPrefix(inner.String(), pad+"  "))
				continue
			}
			writeChild(b, e, indent)
		}
	}
}

func writeChild(b *bytes.Buffer, v any, indent int) {
	switch v := v.(type) {
	case *obj:
		if len(v.keys) == 0 {
			b.WriteString(" {}\n")
			return
		}
		b.WriteString("\n")
		writeYAML(b, v, indent+1)
	case []any:
		if len(v) == 0 {
			b.WriteString(" []\n")
			return
		}
		b.WriteString("\n")
		writeYAML(b, v, indent+1)
	case string:
		b.WriteString(" " + yamlScalar(v) + "\n")
	default:
		j, _ := json.Marshal(v)
		b.WriteString(" " + string(j) + "\n")
	}
}
