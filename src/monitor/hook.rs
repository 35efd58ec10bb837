//! The hook seam, as the monitor sees it. The trait and its events are
//! defined by the engine (`engine::hook`), which emits them; recorders here
//! implement them. Re-exported so monitor code names its own seam.

pub use crate::engine::hook::*;
