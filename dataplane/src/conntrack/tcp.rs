//! TCP connection tracking (`nf_conntrack_proto_tcp.c`). Being written.
