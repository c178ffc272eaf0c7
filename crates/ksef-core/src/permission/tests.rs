use super::*;

#[test]
fn token_permission_api_names() {
    // Exactly the OpenAPI `TokenPermissionType` enum.
    let api = [
        "InvoiceRead",
        "InvoiceWrite",
        "CredentialsRead",
        "CredentialsManage",
        "SubunitManage",
        "EnforcementOperations",
        "Introspection",
    ];
    assert_eq!(TokenPermission::ALL.len(), api.len());
    for name in api {
        let p: TokenPermission = name.parse().unwrap();
        assert_eq!(p.to_string(), name);
        assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{name}\""));
        assert_eq!(
            serde_json::from_str::<TokenPermission>(&format!("\"{name}\"")).unwrap(),
            p
        );
        // Same name in the person vocabulary.
        assert_eq!(Permission::from(p).as_str(), name);
        assert_eq!(Permission::from(p).as_token_permission(), Some(p));
    }
    assert!("VatUeManage".parse::<TokenPermission>().is_err());
    let err = "invoiceread".parse::<TokenPermission>().unwrap_err();
    assert_eq!(err.type_name, "TokenPermissionType");
    assert!(err.to_string().contains("\"invoiceread\""), "{err}");
}

#[test]
fn permission_api_names() {
    for name in ["VatUeManage", "PefInvoiceWrite"] {
        let p: Permission = name.parse().unwrap();
        assert_eq!(p.as_token_permission(), None);
        assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{name}\""));
    }
    assert_eq!(Permission::ALL.len(), 9);
}

#[test]
fn owner_permissions() {
    let owner = PermissionSet::owner(false);
    for p in [
        Permission::InvoiceRead,
        Permission::InvoiceWrite,
        Permission::Introspection,
        Permission::CredentialsRead,
        Permission::CredentialsManage,
        Permission::SubunitManage,
    ] {
        assert!(owner.contains(p), "{p}");
    }
    for p in [
        Permission::VatUeManage,
        Permission::PefInvoiceWrite,
        Permission::EnforcementOperations,
    ] {
        assert!(!owner.contains(p), "{p}");
    }
    assert_eq!(owner.len(), 6);
    let enforcement = PermissionSet::owner(true);
    assert!(enforcement.contains(TokenPermission::EnforcementOperations));
    assert_eq!(enforcement.len(), 7);
    // An enforcement-role owner can mint a token with every token permission.
    assert!(enforcement.is_superset_of(TokenPermission::ALL));
    assert_eq!(
        owner.missing(TokenPermission::ALL),
        vec![TokenPermission::EnforcementOperations]
    );
}

#[test]
fn subset_rule() {
    // Holding only CredentialsManage is not enough to mint an InvoiceWrite token (digest §6.2).
    let held: PermissionSet = [TokenPermission::CredentialsManage].into_iter().collect();
    let req = [
        TokenPermission::InvoiceWrite,
        TokenPermission::CredentialsManage,
        TokenPermission::InvoiceWrite,
        TokenPermission::InvoiceRead,
    ];
    assert!(!held.is_superset_of(&req));
    assert_eq!(
        held.missing(&req),
        vec![TokenPermission::InvoiceWrite, TokenPermission::InvoiceRead]
    );
    assert!(held.is_superset_of(&[TokenPermission::CredentialsManage]));
    assert!(held.is_superset_of(&[]));
    assert!(held.missing(&[]).is_empty());
}

#[test]
fn set_operations() {
    let mut s = PermissionSet::new();
    assert!(s.is_empty());
    assert!(s.insert(Permission::VatUeManage));
    assert!(!s.insert(Permission::VatUeManage));
    assert!(s.insert(TokenPermission::InvoiceRead));
    assert_eq!(s.len(), 2);
    // Iteration follows declaration order, not insertion order.
    assert_eq!(
        s.iter().collect::<Vec<_>>(),
        vec![Permission::InvoiceRead, Permission::VatUeManage]
    );
    assert_eq!(s.token_permissions(), vec![TokenPermission::InvoiceRead]);
    assert!(s.remove(Permission::VatUeManage));
    assert!(!s.remove(Permission::VatUeManage));
    assert_eq!(s.len(), 1);

    let a: PermissionSet = [Permission::InvoiceRead, Permission::InvoiceWrite]
        .into_iter()
        .collect();
    let b: PermissionSet = [Permission::InvoiceWrite, Permission::Introspection]
        .into_iter()
        .collect();
    assert_eq!(
        a.intersection(&b).iter().collect::<Vec<_>>(),
        vec![Permission::InvoiceWrite]
    );
    assert_eq!(a.union(&b).len(), 3);
    assert_eq!(format!("{a:?}"), "{InvoiceRead, InvoiceWrite}");
}

#[test]
fn set_text_and_serde() {
    let s: PermissionSet = " InvoiceRead, InvoiceWrite ,VatUeManage".parse().unwrap();
    assert_eq!(s.to_string(), "InvoiceRead,InvoiceWrite,VatUeManage");
    assert_eq!(s.to_string().parse::<PermissionSet>().unwrap(), s);
    assert!("".parse::<PermissionSet>().unwrap().is_empty());
    assert!("InvoiceRead,Bogus".parse::<PermissionSet>().is_err());

    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(json, r#"["InvoiceRead","InvoiceWrite","VatUeManage"]"#);
    assert_eq!(serde_json::from_str::<PermissionSet>(&json).unwrap(), s);
    let dup: PermissionSet = serde_json::from_str(r#"["InvoiceWrite","InvoiceWrite"]"#).unwrap();
    assert_eq!(dup.len(), 1);
    assert!(serde_json::from_str::<PermissionSet>(r#"["Owner"]"#).is_err());

    let list: Vec<TokenPermission> = parse_list("InvoiceRead,InvoiceWrite").unwrap();
    assert_eq!(
        list,
        vec![TokenPermission::InvoiceRead, TokenPermission::InvoiceWrite]
    );
    assert!(parse_list::<TokenPermission>("InvoiceRead,VatUeManage").is_err());
}
