-- Sessions signed in before this time are over: set when a person's password is reset or their role lowered,
-- so that what they could do before ends everywhere at once (`auth::caller::session_user`).
ALTER TABLE users ADD COLUMN sessions_valid_from TEXT;

-- Sign-in attempts count per account *and client address* (`domain::throttle`): someone else's failures no
-- longer lock an account's owner out. Each attempt is recorded before the password is checked, so concurrent
-- attempts see each other.
ALTER TABLE login_failures ADD COLUMN client TEXT NOT NULL DEFAULT '';
DROP INDEX login_failures_email_time;
CREATE INDEX login_failures_account ON login_failures (email, client, attempted_at);
CREATE INDEX login_failures_client ON login_failures (client, attempted_at);
