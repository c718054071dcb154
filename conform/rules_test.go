package conform

import "testing"

// TestExpect: conform's state IDs name the rulebook's grid; an unknown
// state has no cell, and the cells that mean nothing are where the grid
// says (LISTEN: 8, SYN_RECEIVED: 7).
func TestExpect(t *testing.T) {
	if Expect("BOGUS", "syn") != nil || Expect(Established, "bogus") != nil {
		t.Error("a cell for an unknown state or probe")
	}
	na := 0
	for _, s := range States {
		for _, p := range Probes {
			if Expect(s, p) == nil {
				na++
			}
		}
	}
	if na != 15 {
		t.Errorf("%d cells not applicable, want 15", na)
	}
	if r := Expect(Established, "rst-exact"); r == nil || r.Judge(ReplyNone, AfterDropped) != Pass || r.Judge(ReplyNone, AfterKept) != Fail {
		t.Errorf("ESTABLISHED x rst-exact: %+v", r)
	}
}
