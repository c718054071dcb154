package rulebook

import (
	"encoding/json"
	"fmt"
)

// RuleID identifies a rule of the rulebook.
type RuleID uint8

// The rulebook. IDs (Rules[i].ID) are stable: scripts may match on them.
const (
	RuleSynAckAcksISN RuleID = iota
	RuleAckAcksPeerISN
	RuleSeqAfterSYN
	RuleDataAdvancesAck
	RuleFINAcked
	RuleFinalACK
	RuleNoDataAfterFIN
	RuleRSTToSYN
	RuleRSTAcceptable
	RuleSilentAfterRST
	RuleOptionsOffered
	RuleTSecrEchoes
	RuleTSEverySegment
	RuleMSSSane
	RuleLegalTransitions
	RuleKeepAliveSeq
	RuleKeepAliveACK
	RuleKeepAliveIdle
	RuleKeepAliveRST
	NumRules
)

// Rule is one statement of the rulebook.
type Rule struct {
	ID        string `json:"id"`
	Statement string `json:"statement"`
	Ref       string `json:"ref"`
}

// Rules is the rulebook, indexed by RuleID.
var Rules = [NumRules]Rule{
	RuleSynAckAcksISN:    {"syn-ack-acks-isn", "a SYN-ACK acknowledges the SYN's ISN+1: the SYN consumes one sequence number", "RFC 9293 3.4, 3.5"},
	RuleAckAcksPeerISN:   {"ack-acks-peer-isn", "the handshake's third segment acknowledges the SYN-ACK's ISN+1", "RFC 9293 3.5"},
	RuleSeqAfterSYN:      {"seq-after-syn", "the first segment after a side's SYN carries seq ISN+1", "RFC 9293 3.4"},
	RuleDataAdvancesAck:  {"data-advances-ack", "data is acknowledged with ack = seq + length, never beyond what was sent", "RFC 9293 3.4"},
	RuleFINAcked:         {"fin-acked", "a FIN consumes one sequence number: it is acknowledged with ack = FIN seq + 1", "RFC 9293 3.4, 3.6"},
	RuleFinalACK:         {"final-ack", "the last ACK of a close carries seq = own FIN seq + 1 and ack = peer FIN seq + 1", "RFC 9293 3.6"},
	RuleNoDataAfterFIN:   {"no-data-after-fin", "a side sends no new data after its FIN", "RFC 9293 3.10.4"},
	RuleRSTToSYN:         {"rst-to-syn", "a RST answering a SYN carries ACK, seq 0 and ack = ISN+1", "RFC 9293 3.10.7.1"},
	RuleRSTAcceptable:    {"rst-acceptable", "a RST on a synchronized connection carries seq = the receiver's RCV.NXT", "RFC 5961 3.2"},
	RuleSilentAfterRST:   {"silent-after-rst", "no segment follows a RST from either side", "RFC 9293 3.10.7.4"},
	RuleOptionsOffered:   {"options-offered", "a SYN-ACK carries SACK-permitted, window scale and timestamps only when the SYN offered them", "RFC 2018 2, RFC 7323 2.2, 3.2"},
	RuleTSecrEchoes:      {"tsecr-echoes", "TSecr echoes a TSval the other side sent", "RFC 7323 3.2, 4.3"},
	RuleTSEverySegment:   {"ts-every-segment", "once timestamps are negotiated, every segment but RST carries them", "RFC 7323 3.2"},
	RuleMSSSane:          {"mss-sane", "MSS appears only in SYNs, with a value from 64 to 65495", "RFC 9293 3.7.1, RFC 6691"},
	RuleLegalTransitions: {"legal-transitions", "every state change is an arc of the RFC 9293 state diagram", "RFC 9293 3.3.2"},
	RuleKeepAliveSeq:     {"keepalive-seq", "a keepalive probe carries seq = SND.NXT-1 with 0 or 1 byte", "RFC 9293 3.8.4, RFC 1122 4.2.3.6"},
	RuleKeepAliveACK:     {"keepalive-ack", "a keepalive probe is answered by an ACK with ack = SND.NXT", "RFC 9293 3.8.4, 3.10.7.4"},
	RuleKeepAliveIdle:    {"keepalive-idle", "keepalive probes are sent only after an idle period", "RFC 1122 4.2.3.6"},
	RuleKeepAliveRST:     {"keepalive-rst", "after its last unanswered keepalive probe the prober gives the connection up: with a RST (Linux), or silently and then answers the next segment with one", "RFC 1122 4.2.3.6; RFC 9293 3.10.8, 3.10.7.1"},
}

// RuleResult is a rule's outcome for one connection.
type RuleResult uint8

// Results.
const (
	NotApplicable RuleResult = iota
	Pass
	Fail
)

var resultNames = [...]string{"n/a", "pass", "fail"}

// String is "n/a", "pass" or "fail".
func (r RuleResult) String() string { return resultNames[r] }

// MarshalText prints results by name in JSON.
func (r RuleResult) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// maxEvidence bounds the segment numbers kept per verdict.
const maxEvidence = 4

// Verdict is a rule's result for one connection with the segments that
// prove it: for a pass the first segments that satisfied it, for a fail
// the first that broke it.
type Verdict struct {
	Rule     RuleID
	Result   RuleResult
	nev      uint8
	Passes   uint32
	Failures uint32
	ev       [maxEvidence]int32
	Detail   string // what was wrong (first failure)
}

// Evidence returns the segment numbers that prove the verdict.
func (v *Verdict) Evidence() []int {
	out := make([]int, v.nev)
	for i := range out {
		out[i] = int(v.ev[i])
	}
	return out
}

func (v *Verdict) pass(num int) {
	v.Passes++
	if v.Result == NotApplicable {
		v.Result = Pass
	}
	if v.Result == Pass && v.nev < maxEvidence && (v.nev == 0 || v.ev[v.nev-1] != int32(num)) {
		v.ev[v.nev] = int32(num)
		v.nev++
	}
}

func (v *Verdict) fail(num int, format string, a ...any) {
	v.Failures++
	if v.Result != Fail {
		v.Result = Fail
		v.nev = 0
		v.Detail = fmt.Sprintf(format, a...)
	}
	if v.nev < maxEvidence && (v.nev == 0 || v.ev[v.nev-1] != int32(num)) {
		v.ev[v.nev] = int32(num)
		v.nev++
	}
}

// verdictJSON is a verdict's JSON form: the rule by its stable ID and
// statement, the result and the evidence.
type verdictJSON struct {
	ID        string     `json:"id"`
	Statement string     `json:"statement"`
	Result    RuleResult `json:"result"`
	Evidence  []int      `json:"evidence,omitempty"`
	Detail    string     `json:"detail,omitempty"`
}

// MarshalJSON writes the verdict with its rule's ID and statement.
func (v Verdict) MarshalJSON() ([]byte, error) {
	r := Rules[v.Rule]
	return json.Marshal(verdictJSON{ID: r.ID, Statement: r.Statement, Result: v.Result, Evidence: v.Evidence(), Detail: v.Detail})
}

// UnmarshalJSON reads a verdict written by MarshalJSON (evidence beyond
// the first four segments is dropped).
func (v *Verdict) UnmarshalJSON(b []byte) error {
	var j struct {
		verdictJSON
		Result string `json:"result"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*v = Verdict{Detail: j.Detail}
	id, ok := RuleByID(j.ID)
	if !ok {
		return fmt.Errorf("unknown rule %q", j.ID)
	}
	v.Rule = id
	for i, n := range resultNames {
		if n == j.Result {
			v.Result = RuleResult(i)
		}
	}
	for _, n := range j.Evidence {
		if v.nev < maxEvidence {
			v.ev[v.nev] = int32(n)
			v.nev++
		}
	}
	return nil
}

// RuleByID finds a rule by its stable ID.
func RuleByID(id string) (RuleID, bool) {
	for i, r := range Rules {
		if r.ID == id {
			return RuleID(i), true
		}
	}
	return 0, false
}
