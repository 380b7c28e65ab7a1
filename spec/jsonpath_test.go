package spec

import (
	"testing"
)

// Paths select as the npm jsonpath package (1.x) does.
func TestJSONPath(t *testing.T) {
	data := `{store: {book: [{title: A, price: 8}, {title: B, price: 12}, {title: C, price: 9, isbn: x}], bicycle: {price: 20}}, "a-b": 1, l: [5, 6, 7, 8]}`
	for _, tc := range []struct {
		path string
		want string // the matches as JSON; "error" for an error
	}{
		{`$.store.book[0].title`, `["A"]`},
		{`store.book[1].title`, `["B"]`},
		{`$['a-b']`, `[1]`},
		{`$["store"]["bicycle"].price`, `[20]`},
		{`$.store.book[*].title`, `["A","B","C"]`},
		{`$.store.*.price`, `[20]`},
		{`$..price`, `[8,12,9,20]`}, // depth first, as the package walks
		{`$..book[2].title`, `["C"]`},
		{`$.l[1:3]`, `[6,7]`},
		{`$.l[-2:]`, `[7,8]`},
		{`$.l[::2]`, `[5,7]`},
		{`$.l[0,3]`, `[5,8]`},
		{`$.l[-1]`, `[]`},
		{`$.l.length`, `[4]`},
		{`$.l[(@.length-1)]`, `[8]`},
		{`$.store.book[?(@.price < 10)].title`, `["A","C"]`},
		{`$.store.book[?(@.isbn)].title`, `["C"]`},
		{`$.store.book[?(@.title == 'B' || @.price > 8.5)].price`, `[12,9]`},
		{`$..[?(@.price > 15)].price`, `[20]`},
		{`$.nothing`, `[]`},
		{`$`, `[{"store":{"book":[{"title":"A","price":8},{"title":"B","price":12},{"title":"C","price":9,"isbn":"x"}],"bicycle":{"price":20}},"a-b":1,"l":[5,6,7,8]}]`},
		{`$.store..title`, `["A","B","C"]`},
		{`$.constructor`, `error`},
		{`$.a b`, `error`},
		{`$[`, `error`},
	} {
		got, err := jsonPathQuery(yamlOne(t, data), tc.path)
		if tc.want == "error" {
			if err == nil {
				t.Errorf("%s: %s, want an error", tc.path, show(got))
			}
			continue
		}
		if got == nil {
			got = []any{}
		}
		if err != nil || show(got) != tc.want {
			t.Errorf("%s = %s (%v), want %s", tc.path, show(got), err, tc.want)
		}
	}
	if _, err := jsonPathQuery("text", "$.length"); err == nil {
		t.Error("a path on a string: no error; jsonpath refuses a value that is not an object")
	}
}
