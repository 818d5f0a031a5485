from django_otp.admin import OTPAdminSite


class PortalAdminSite(OTPAdminSite):
    """The staff admin: a login needs a password *and* a code from an OTP device."""

    site_header = "SMS Portal staff"
    site_title = "SMS Portal staff"
    index_title = "Operations"
