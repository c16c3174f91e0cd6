//! The connection of a store, with the sync's pages held back and written in groups (see
//! [`crate::GROUP_PAGES`]). Its fields are private to this module: the rest of the store
//! reaches the database only through [`Grouped::get`], which writes the held pages first,
//! so no read misses them and no write overtakes them.

use crate::writes::Page;
use crate::{GROUP_AGE, GROUP_PAGES};
use anyhow::{Context, Result};
use rusqlite::{Connection, Transaction, TransactionBehavior};
use std::cell::RefCell;
use std::time::Instant;

/// A connection and the pages not yet written through it.
pub(crate) struct Grouped {
    conn: Connection,
    held: RefCell<Held>,
}

/// Pages waiting for the next group, and when the oldest of them came.
#[derive(Default)]
struct Held {
    pages: Vec<Page>,
    since: Option<Instant>,
}

impl Grouped {
    pub(crate) fn new(conn: Connection) -> Self {
        Grouped {
            conn,
            held: RefCell::default(),
        }
    }

    /// The connection, once every held page is written.
    pub(crate) fn get(&self) -> Result<&Connection> {
        self.commit()?;
        Ok(&self.conn)
    }

    /// The connection, for a transaction, once every held page is written.
    pub(crate) fn get_mut(&mut self) -> Result<&mut Connection> {
        self.commit()?;
        Ok(&mut self.conn)
    }

    /// The connection as it is, held pages not written: for read-only reports, whose
    /// stores never hold any.
    pub(crate) fn as_written(&self) -> &Connection {
        &self.conn
    }

    /// Holds a page back for the next group, writing the group if it is full or due.
    pub(crate) fn hold(&self, page: Page) -> Result<()> {
        let full = {
            let mut held = self.held.borrow_mut();
            let since = *held.since.get_or_insert_with(Instant::now);
            held.pages.push(page);
            held.pages.len() >= GROUP_PAGES || since.elapsed() >= GROUP_AGE
        };
        if full { self.commit() } else { Ok(()) }
    }

    /// Writes the held pages, if any, in one transaction. A page that fails is rolled back
    /// whole and its error returned; the pages before it are kept, those after it are
    /// dropped (the run stops on a store error, and resumes from what was kept).
    pub(crate) fn commit(&self) -> Result<()> {
        let pages = std::mem::take(&mut *self.held.borrow_mut()).pages;
        if pages.is_empty() {
            return Ok(());
        }
        let mut group = Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .context("cannot store the sync's latest pages")?;
        let mut failed = None;
        for page in &pages {
            // A savepoint dropped without commit rolls its page back.
            let savepoint = group.savepoint()?;
            match page.write(&savepoint) {
                Ok(()) => savepoint.commit()?,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        group.commit()?;
        failed.map_or(Ok(()), Err)
    }

    /// Writes the held pages if the oldest has waited [`GROUP_AGE`].
    pub(crate) fn commit_if_due(&self) -> Result<()> {
        match self.held.borrow().since {
            Some(since) if since.elapsed() >= GROUP_AGE => {}
            _ => return Ok(()),
        }
        self.commit()
    }
}

impl Drop for Grouped {
    fn drop(&mut self) {
        // A sync writes its pages when it ends or stops; this is for a store dropped on an
        // error path. If even this fails, the run stays resumable without those pages.
        let _ = self.commit();
    }
}
