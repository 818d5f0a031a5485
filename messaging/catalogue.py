"""The error catalogue (seed 000 "What are the reason for error codes received under the API
failed?"): the one source of codes and descriptions for every dialect, Failed Logs and the
error-code reference page."""

from dataclasses import dataclass
from enum import StrEnum


class Code(StrEnum):
    MISSING_MOBILE = "101"
    MISSING_MESSAGE = "102"
    MISSING_USERNAME = "104"
    MISSING_PASSWORD = "105"  # noqa: S105 (an error code, not a password)
    INVALID_CREDENTIALS = "201"
    INVALID_MOBILE = "202"
    INVALID_SENDER = "203"
    INVALID_AUTHKEY = "207"
    IP_BLACKLISTED = "208"
    DEFAULT_ROUTE_NOT_FOUND = "209"
    ROUTE_UNDETERMINED = "210"
    DLT_TEMPLATE_MISSING = "211"
    INSUFFICIENT_BALANCE = "301"
    ACCOUNT_EXPIRED = "302"
    ACCOUNT_BANNED = "303"
    ROUTE_UNAVAILABLE = "306"
    SCHEDULE_INCORRECT = "307"
    CAMPAIGN_TOO_LONG = "308"
    GROUP_NOT_YOURS = "309"
    SMS_TOO_LONG = "310"
    DUPLICATE = "311"
    FLOW_MISSING = "400"
    FLOW_NOT_APPROVED = "401"
    HARD_BLOCK_KEYWORDS = "402"
    FLOW_DISABLED = "403"
    IP_NOT_WHITELISTED = "418"
    SERVICE_TERMINATED = "421"
    INTERNAL_ERROR = "506"
    INTERNAL_ERROR_2 = "601"
    ROUTE_DISABLED = "602"
    SENDER_BLACKLISTED = "603"
    NO_VALID_NUMBER = "604"
    SCHEDULE_TOO_FAR = "606"
    CAMPAIGN_NAME_MISSING = "607"
    SCHEDULE_IN_PAST = "608"


@dataclass(frozen=True)
class Entry:
    code: Code
    description: str
    http_status: int  # what JSON dialects answer with
    kind: str  # "auth", "account", "validation", "policy", "internal"


_ENTRIES = [
    (Code.MISSING_MOBILE, "Missing mobile number", 400, "validation"),
    (Code.MISSING_MESSAGE, "Missing message", 400, "validation"),
    (Code.MISSING_USERNAME, "Missing username", 401, "auth"),
    (Code.MISSING_PASSWORD, "Missing password", 401, "auth"),
    (Code.INVALID_CREDENTIALS, "Invalid username or password", 401, "auth"),
    (Code.INVALID_MOBILE, "Invalid mobile number", 400, "validation"),
    (Code.INVALID_SENDER, "Invalid sender ID or DLT Entity Id Missing", 400, "validation"),
    (Code.INVALID_AUTHKEY, "Invalid authentication key", 401, "auth"),
    (Code.IP_BLACKLISTED, "IP is blacklisted", 403, "policy"),
    (Code.DEFAULT_ROUTE_NOT_FOUND, "Default route not found", 400, "policy"),
    (Code.ROUTE_UNDETERMINED, "The route could not be determined. Please contact support", 400, "policy"),
    (Code.DLT_TEMPLATE_MISSING, "DLT Template Id Missing", 400, "validation"),
    (Code.INSUFFICIENT_BALANCE, "The user does not have sufficient balance to send SMS", 402, "account"),
    (Code.ACCOUNT_EXPIRED, "Expired user account", 403, "account"),
    (Code.ACCOUNT_BANNED, "Banned user account", 403, "account"),
    (Code.ROUTE_UNAVAILABLE, "This route is currently unavailable", 400, "policy"),
    (Code.SCHEDULE_INCORRECT, "The schedule time is incorrect", 400, "validation"),
    (Code.CAMPAIGN_TOO_LONG, "Campaign name cannot be more than 32 characters", 400, "validation"),
    (Code.GROUP_NOT_YOURS, "The selected group(s) does not belong to you", 400, "validation"),
    (Code.SMS_TOO_LONG, "SMS is too long. The system paused this request automatically", 400, "validation"),
    (
        Code.DUPLICATE,
        "The same SMS content was sent to the same number within 10 seconds; the first is delivered, "
        "this one is rejected and the balance is deducted only once",
        409,
        "policy",
    ),
    (Code.FLOW_MISSING, "Flow ID Missing or Invalid Flow", 400, "validation"),
    (Code.FLOW_NOT_APPROVED, "Flow Not Yet Approved", 400, "policy"),
    (Code.HARD_BLOCK_KEYWORDS, "The message has some hard block keywords", 400, "policy"),
    (Code.FLOW_DISABLED, "Flow is disabled", 400, "policy"),
    (Code.IP_NOT_WHITELISTED, "IP not whitelisted", 403, "auth"),
    (
        Code.SERVICE_TERMINATED,
        "Service Terminated (Please reach out to your account manager)",
        403,
        "account",
    ),
    (Code.INTERNAL_ERROR, "Internal error, please contact your account manager", 500, "internal"),
    (Code.INTERNAL_ERROR_2, "Internal error, please contact your account manager", 500, "internal"),
    (Code.ROUTE_DISABLED, "If your current route is disabled, kindly select another route", 400, "policy"),
    (
        Code.SENDER_BLACKLISTED,
        "This sender ID is blacklisted, please use a different sender ID",
        400,
        "policy",
    ),
    (Code.NO_VALID_NUMBER, "Please enter at least one correct number to send an SMS", 400, "validation"),
    (Code.SCHEDULE_TOO_FAR, "The scheduled date cannot be more than three weeks", 400, "validation"),
    (Code.CAMPAIGN_NAME_MISSING, "Please enter the campaign name", 400, "validation"),
    (Code.SCHEDULE_IN_PAST, "Scheduled SMS cannot be less than the current end time", 400, "validation"),
]

CATALOGUE: dict[Code, Entry] = {
    code: Entry(code, text, status, kind) for code, text, status, kind in _ENTRIES
}


def describe(code: Code) -> str:
    return CATALOGUE[code].description


class ApiError(Exception):
    """A refusal in catalogue terms; dialects render it in their own wire shape. `detail` may
    say more than the catalogue text (which field, which value) but never carries a secret or an
    internal exception."""

    def __init__(self, code: Code, detail: str = "") -> None:
        self.code = code
        self.entry = CATALOGUE[code]
        self.detail = detail or self.entry.description
        super().__init__(f"{code}: {self.detail}")
