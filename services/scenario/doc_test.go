package scenario_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sagaboard/sagaboard/services/scenario"
)

func TestBuiltinScenariosAreValid(t *testing.T) {
	docs := scenario.Builtin()
	want := []string{"where-is-it-stuck", "the-deadline", "why-did-it-fail", "compare", "under-load"}
	if len(docs) != len(want) {
		t.Fatalf("%d built-in scenarios, want %d", len(docs), len(want))
	}
	for i, d := range docs {
		if d.Name != want[i] {
			t.Errorf("built-in %d is %q, want %q (the README's order)", i+1, d.Name, want[i])
		}
		if err := d.Validate(); err != nil {
			t.Errorf("%s: %v", d.Name, err)
		}
	}
}

func TestParseRefusesBadDocumentsWithASentence(t *testing.T) {
	for _, c := range []struct {
		name, doc, want string
	}{
		{"not JSON", `{"name":`, "not valid JSON"},
		{"syntax", `{"name" "a"}`, "not valid JSON at line 1"},
		{"unknown field", "{\"name\":\"a\",\"title\":\"A\",\n\"steps\":[{\"say\":\"x\",\"sleep\":\"1s\"}]}", `line 2: unknown field "sleep"`},
		{"trailing", `{"name":"a","title":"A","steps":[{"say":"x","pause":"seats"}]} {}`, "more after"},
		{"bad name", `{"name":"A B","title":"A","steps":[{"say":"x","pause":"seats"}]}`, "lowercase letters"},
		{"no title", `{"name":"a","steps":[{"say":"x","pause":"seats"}]}`, "no title"},
		{"no steps", `{"name":"a","title":"A","steps":[]}`, "from 1 to"},
		{"silent step", `{"name":"a","title":"A","steps":[{"pause":"seats"}]}`, "nothing to say"},
		{"idle step", `{"name":"a","title":"A","steps":[{"say":"x"}]}`, "does nothing"},
		{"two things", `{"name":"a","title":"A","steps":[{"say":"x","pause":"seats","resume":"seats"}]}`, "pause and resume at once"},
		{"unknown part", `{"name":"a","title":"A","steps":[{"say":"x","pause":"booking"}]}`, `names "booking"`},
		{"bad switch", `{"name":"a","title":"A","steps":[{"say":"x","switches":{"payment":{"fail_rate":2}}}]}`, "fail_rate must be from 0 to 1"},
		{"bad duration", `{"name":"a","title":"A","steps":[{"say":"x","wait":{"for":"soon"}}]}`, `"soon" is not a duration`},
		{"unbooked", `{"name":"a","title":"A","steps":[{"say":"x","expect":{"booking":"gus","status":"confirmed"}}]}`, `booking "gus", which no earlier step books`},
		{"bad status", `{"name":"a","title":"A","steps":[{"say":"x","book":{"user":"gus"}},{"say":"y","expect":{"booking":"gus","status":"sold"}}]}`, `expect.status "sold"`},
		{"bad money", `{"name":"a","title":"A","steps":[{"say":"x","book":{"user":"gus"}},{"say":"y","expect":{"booking":"gus","money":"lots"}}]}`, "nets, refunded or untouched"},
		{"bad user", `{"name":"a","title":"A","steps":[{"say":"x","book":{"user":"gus bar"}}]}`, "book.user"},
		{"wrong type", `{"name":"a","title":"A","steps":[{"say":"x","slow_motion":"fast"}]}`, "slow_motion must be int"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := scenario.Parse([]byte(c.doc))
			if !errors.Is(err, scenario.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Parse = %v, want ErrInvalid saying %q", err, c.want)
			}
		})
	}
}
