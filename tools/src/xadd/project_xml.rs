//! `project.xml`: the platforms and apps a project declares, as BOINC's `xadd` reads them.
//!
//! `<boinc>` holds `<platform>` and `<app>` elements, each with `<name>` and
//! `<user_friendly_name>` (apps optionally `<min_version>`); the stock file has no XML
//! declaration, one written by BOINC's Python has one. A `<platform>` or `<app>` without a
//! `<name>` is counted in [`ProjectXml::nameless`] and otherwise ignored: BOINC's `xadd` would
//! add a row with an empty name, which no version directory can match.

use std::path::{Path, PathBuf};

use rboinc_core::xml;

/// A listed platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub user_friendly_name: String,
}

/// A listed app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedApp {
    pub name: String,
    pub user_friendly_name: String,
    /// `<min_version>`, 0 when absent.
    pub min_version: i32,
}

/// The file's content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectXml {
    pub platforms: Vec<Listed>,
    pub apps: Vec<ListedApp>,
    /// Entries without a `<name>`, left out.
    pub nameless: usize,
}

/// Why `project.xml` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProjectXmlError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: no <boinc> element", .0.display())]
    NotBoinc(PathBuf),
}

impl ProjectXml {
    /// `project.xml` in the project directory `root`.
    pub fn path(root: &Path) -> PathBuf {
        root.join("project.xml")
    }

    /// Reads `root/project.xml`; a missing file lists nothing.
    pub fn load(root: &Path) -> Result<ProjectXml, ProjectXmlError> {
        let path = Self::path(root);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ProjectXml::default()),
            Err(source) => return Err(ProjectXmlError::Read { path, source }),
        };
        Self::parse(&text).ok_or(ProjectXmlError::NotBoinc(path))
    }

    /// The document's lists; `None` without a `<boinc>` element.
    pub fn parse(text: &str) -> Option<ProjectXml> {
        let body = xml::raw_element(text, "boinc")?;
        let mut doc = ProjectXml::default();
        for p in xml::raw_elements(body, "platform") {
            match xml::text(p, "name").filter(|n| !n.is_empty()) {
                Some(name) => doc.platforms.push(Listed {
                    user_friendly_name: xml::text(p, "user_friendly_name").unwrap_or_default(),
                    name,
                }),
                None => doc.nameless += 1,
            }
        }
        for a in xml::raw_elements(body, "app") {
            match xml::text(a, "name").filter(|n| !n.is_empty()) {
                Some(name) => doc.apps.push(ListedApp {
                    user_friendly_name: xml::text(a, "user_friendly_name").unwrap_or_default(),
                    min_version: xml::parse(a, "min_version").unwrap_or(0),
                    name,
                }),
                None => doc.nameless += 1,
            }
        }
        Some(doc)
    }

    pub fn app(&self, name: &str) -> Option<&ListedApp> {
        self.apps.iter().find(|a| a.name == name)
    }

    pub fn platform(&self, name: &str) -> Option<&Listed> {
        self.platforms.iter().find(|p| p.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STOCK: &str = include_str!("../../../fixtures/stock-server/make_project/project.xml");
    const TEST_APP: &str =
        include_str!("../../../fixtures/stock-server/make_project/test_app_variant/project.xml");

    #[test]
    fn reads_the_stock_make_project_file() {
        let doc = ProjectXml::parse(STOCK).unwrap();
        assert!(doc.apps.is_empty(), "stock project.xml lists no app");
        assert_eq!((doc.platforms.len(), doc.nameless), (20, 0));
        let linux = doc.platform("x86_64-pc-linux-gnu").unwrap();
        assert_eq!(
            linux.user_friendly_name,
            "Linux running on an AMD x86_64 or Intel EM64T CPU"
        );
        assert!(doc.platform("anonymous").is_some());
        let odd = ProjectXml::parse(
            "<boinc><platform><user_friendly_name>x</user_friendly_name></platform></boinc>",
        )
        .unwrap();
        assert_eq!((odd.platforms.len(), odd.nameless), (0, 1));
    }

    #[test]
    fn reads_apps_and_the_xml_declaration() {
        let doc = ProjectXml::parse(TEST_APP).unwrap();
        assert_eq!(
            doc.app("example_app"),
            Some(&ListedApp {
                name: "example_app".into(),
                user_friendly_name: "Example Application".into(),
                min_version: 0,
            })
        );
        let doc = ProjectXml::parse(
            "<boinc><app><name>a&amp;b</name><user_friendly_name>A</user_friendly_name>\
             <min_version>104</min_version></app></boinc>",
        )
        .unwrap();
        assert_eq!(doc.apps[0].name, "a&b");
        assert_eq!(doc.apps[0].min_version, 104);
        assert_eq!(ProjectXml::parse("<apps/>"), None);
    }
}
