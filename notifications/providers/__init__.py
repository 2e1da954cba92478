"""Real providers behind one channel interface: each module sends one notification through its
provider's official client and returns a status code, or raises the TransientError /
PermanentError of `notifications.channels`; `configured()` says why it cannot send (None when
it can). `notifications.channels.deliver` dispatches to them by channel.

- `twilio`: SMS and voice calls (Twilio's Python client), and the verification of its callbacks
- `slack`: a direct message with an Acknowledge button (slack_sdk), and its interactivity
- `apprise`: ntfy, Gotify, Pushover, Telegram, Matrix, Mattermost, SMS gateways (Apprise)
"""
