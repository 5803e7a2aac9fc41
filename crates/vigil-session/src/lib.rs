//! vigil-session
