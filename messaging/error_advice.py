"""What to do about each catalogue code: the "fix" column of the error-code reference page.
Kept next to the catalogue (which stays the single source of codes and descriptions); a test
checks that every code has advice."""

from messaging.catalogue import Code

ERROR_ADVICE: dict[Code, str] = {
    Code.MISSING_MOBILE: "Send the recipients in mobiles (MSG91), to/destinations (Infobip) or recipient.",
    Code.MISSING_MESSAGE: "Send the text in message (MSG91, GatewayAPI) or text (Infobip).",
    Code.MISSING_USERNAME: "Basic and userId/password authentication need a user name (the login email).",
    Code.MISSING_PASSWORD: "Basic and userId/password authentication need the password.",
    Code.INVALID_CREDENTIALS: "Check the login email and password; repeated failures are throttled.",
    Code.INVALID_MOBILE: "Numbers need a country code (e.g. 919876543210); fix or drop the invalid ones.",
    Code.INVALID_SENDER: "Use a sender ID approved for your company (6 letters for Indian routes) and, "
    "where the route needs DLT, your DLT entity id.",
    Code.INVALID_AUTHKEY: "The key is missing, mistyped, disabled, expired or was regenerated: copy it again "
    "from the Authkey page or create a new one.",
    Code.IP_BLACKLISTED: "The calling IP is on the provider's global blacklist: contact support.",
    Code.DEFAULT_ROUTE_NOT_FOUND: "Send route, or ask support to set a default route for your company.",
    Code.ROUTE_UNDETERMINED: "The route could not be chosen for these numbers: contact support.",
    Code.DLT_TEMPLATE_MISSING: "This route needs DLT_TE_ID (DLT template id) with every message.",
    Code.INSUFFICIENT_BALANCE: "Top up the balance; each SMS part to each recipient costs one credit.",
    Code.ACCOUNT_EXPIRED: "The company account has expired: contact your account manager.",
    Code.ACCOUNT_BANNED: "The company account is banned: contact your account manager.",
    Code.ROUTE_UNAVAILABLE: "The route is temporarily unavailable: retry later or use another route.",
    Code.SCHEDULE_INCORRECT: "Send the schedule time as YYYY-MM-DD HH:MM:SS (or ISO 8601 with an offset).",
    Code.CAMPAIGN_TOO_LONG: "Shorten the campaign name to at most 32 characters.",
    Code.GROUP_NOT_YOURS: "Use only contact group ids of your own company.",
    Code.SMS_TOO_LONG: "Shorten the text: it is longer than the maximum number of SMS parts.",
    Code.DUPLICATE: "The same text went to the same numbers within 10 seconds; the first request is "
    "delivered. Do not retry an answered request.",
    Code.FLOW_MISSING: "Send a template_id/flow_id of an existing flow of your company.",
    Code.FLOW_NOT_APPROVED: "Wait until staff approve the flow.",
    Code.HARD_BLOCK_KEYWORDS: "Remove the blocked words from the text.",
    Code.FLOW_DISABLED: "The flow is disabled: ask support to enable it or use another flow.",
    Code.IP_NOT_WHITELISTED: "Whitelist the calling IP for the key or the company (Authkey → IP security, "
    "Recent IPs, or the Whitelist button in Failed Logs), or turn IP security off for the key.",
    Code.SERVICE_TERMINATED: "The service was terminated for this account: contact your account manager.",
    Code.INTERNAL_ERROR: "Something failed on our side; nothing was sent or charged. Retry, and contact "
    "support with the time of the request if it persists.",
    Code.INTERNAL_ERROR_2: "The request could not be stored; nothing was sent or charged. Retry later.",
    Code.ROUTE_DISABLED: "The route is disabled for your company: send another route.",
    Code.SENDER_BLACKLISTED: "This sender ID is blacklisted: use another sender ID.",
    Code.NO_VALID_NUMBER: "None of the numbers is valid: send numbers with a country code.",
    Code.SCHEDULE_TOO_FAR: "Schedule at most three weeks ahead.",
    Code.CAMPAIGN_NAME_MISSING: "Campaign sends need a campaign name.",
    Code.SCHEDULE_IN_PAST: "The schedule time is in the past: send a future time or none.",
}
