"""Codes of the Service catalogue (seeded by migration 0002), for code that checks a grant."""

SMS_SEND = "sms-send"
SMS_FLOW = "sms-flow"
OTP = "otp"
REPORTS = "reports"
BALANCE = "balance"
KEY_MANAGEMENT = "key-management"
