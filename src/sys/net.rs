//! (filled in by the tool that owns it)
