//! vigil-ssh
