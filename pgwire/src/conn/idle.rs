//! An idle connection: what the server sent while no command was running (notifications,
//! notices, parameter changes, or the FATAL error and end of stream of a backend that was
//! terminated or a server that shut down), read without waiting or awaited.

use std::io;

use super::{Connection, READ_CHUNK};
use crate::error::{Error, Result};
use crate::proto::backend::{Message, Notification, split_frame};

/// At most this many bytes are read by one [`Connection::check_idle`].
const CHECK_IDLE_LIMIT: usize = 1024 * 1024;

impl Connection {
    /// Reads, without waiting, whatever the server sent while the connection was idle, and
    /// reports whether the connection is still usable. No bytes are sent.
    ///
    /// Notifications are queued (see [`take_notifications`](Connection::take_notifications)),
    /// notices go to the notice handler. A terminated backend or a server that shut down
    /// sends a FATAL error and closes the socket: this returns that error (or
    /// [`Error::Closed`]) and the connection is marked closed. This is how a pool can check
    /// a connection before handing it out at no cost: no round trip, usually no system call
    /// (the runtime already knows whether the socket is readable).
    ///
    /// While a command is unfinished (see [`is_busy`](Connection::is_busy)) unread input is
    /// expected,
    /// so nothing is read and only an already known failure is reported.
    ///
    /// ```no_run
    /// # async fn f(mut conn: hyperdjango_pgwire::Connection) {
    /// match conn.check_idle() {
    ///     Ok(()) => { /* still usable, as far as can be known without a round trip */ }
    ///     Err(e) => eprintln!("dropping a dead connection: {e}"),
    /// }
    /// # }
    /// ```
    pub fn check_idle(&mut self) -> Result<()> {
        if let Some(why) = &self.broken {
            return Err(Error::Closed(why.clone()));
        }
        if self.is_busy() {
            return Ok(());
        }
        let mut eof = false;
        let mut read = 0;
        while read < CHECK_IDLE_LIMIT {
            if self.read_buf.capacity() - self.read_buf.len() < 4096 {
                self.read_buf.reserve(READ_CHUNK);
            }
            match self.stream.try_read_buf(&mut self.read_buf) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => read += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let e = Error::io(format!("reading from {}", self.endpoint), e);
                    return Err(self.fail(e));
                }
            }
        }
        // Messages first: a FATAL error says more than the end of stream that follows it.
        loop {
            match split_frame(&mut self.read_buf) {
                Ok(Some((tag, body))) => match Message::decode(tag, body) {
                    Ok(Message::NoticeResponse(notice)) => (self.notice_handler)(&notice),
                    Ok(Message::NotificationResponse(n)) => self.notifications.push_back(n),
                    Ok(Message::ParameterStatus { name, value }) => {
                        self.parameters.insert(name, value);
                    }
                    Ok(Message::ErrorResponse(e)) => return Err(self.db_error(e)),
                    Ok(other) => return Err(self.unexpected(&other, "idle")),
                    Err(e) => return Err(self.fail_protocol(e)),
                },
                Ok(None) => break,
                Err(e) => return Err(self.fail_protocol(e)),
            }
        }
        if eof {
            let e = Error::Closed(format!(
                "the server at {} closed the connection while it was idle",
                self.endpoint
            ));
            return Err(self.fail(e));
        }
        Ok(())
    }

    /// Waits for the next notification (LISTEN/NOTIFY): returns a queued one at once, else
    /// reads until one arrives. Unfinished commands are finished first. Cancel safe: drop
    /// the future (for example on a timeout) and the connection stays usable, with no
    /// notification lost.
    ///
    /// Errors when the connection fails meanwhile (a terminated backend returns its FATAL
    /// error, a closed socket [`Error::Closed`]).
    ///
    /// ```no_run
    /// # async fn f(conn: &mut hyperdjango_pgwire::Connection) -> hyperdjango_pgwire::Result<()> {
    /// conn.batch_execute(r#"LISTEN "jobs""#).await?;
    /// let n = conn.wait_for_notification().await?;
    /// println!("{} says {:?} on {}", n.process_id, n.payload, n.channel);
    /// # Ok(()) }
    /// ```
    pub async fn wait_for_notification(&mut self) -> Result<Notification> {
        if let Some(n) = self.notifications.pop_front() {
            return Ok(n);
        }
        self.wait_idle().await?;
        loop {
            // Not `read_message`: it queues notifications and keeps reading.
            match split_frame(&mut self.read_buf) {
                Ok(Some((tag, body))) => match Message::decode(tag, body) {
                    Ok(Message::NotificationResponse(n)) => return Ok(n),
                    Ok(Message::NoticeResponse(notice)) => (self.notice_handler)(&notice),
                    Ok(Message::ParameterStatus { name, value }) => {
                        self.parameters.insert(name, value);
                    }
                    Ok(Message::ErrorResponse(e)) => return Err(self.db_error(e)),
                    Ok(other) => {
                        return Err(self.unexpected(&other, "a wait for notifications"));
                    }
                    Err(e) => return Err(self.fail_protocol(e)),
                },
                Ok(None) => self.fill().await?,
                Err(e) => return Err(self.fail_protocol(e)),
            }
        }
    }
}
