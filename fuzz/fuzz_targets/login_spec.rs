//! Any SSH user name: no panic; a name that parses names a non-empty user without ':', and
//! putting the parts back together gives the same name (nothing is dropped or invented).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    let Ok(spec) = vigil_core::LoginSpec::parse(&raw) else {
        return;
    };
    assert!(!spec.user.is_empty() && !spec.user.contains(':'));
    let mut again = spec.user.clone();
    if let Some(target) = &spec.target {
        assert!(!target.is_empty() && !target.contains('@'), "{raw:?}");
        again.push(':');
        if let Some(login) = &spec.login {
            assert!(!login.is_empty());
            again.push_str(login);
            again.push('@');
        }
        again.push_str(target);
    } else {
        assert!(spec.login.is_none());
    }
    assert_eq!(again, raw, "the parts give back the name");
});
