//! NAT tuple selection (`get_unique_tuple`). Being written.
