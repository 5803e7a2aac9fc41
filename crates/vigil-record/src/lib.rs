//! vigil-record
