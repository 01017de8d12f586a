// Package peers holds the built-in workloads that run inside the lab's
// namespaces: a sender (bulk, or paced at a rate) and a receiver (reading at a
// rate with a given read size), the message framing with sequence numbers and
// send timestamps that lets the receiver count gaps, duplicates and lag, and
// the child-process plumbing that runs each peer as a re-executed tcplab in
// its namespace (see docs/design.md for why peers are processes).
//
// Each peer samples its own socket with tcpinfo and writes samples.jsonl and
// events.jsonl lines itself. It must not import scenario, netem or report and
// classifies nothing.
package peers
