"""The Authkey section. Every page here sits behind the OTP gate.

Key management itself (create, rules, IP security, recent IPs) is not built yet; these pages say
so rather than pretend.
"""

from django.views.generic import TemplateView

from accounts.otp import CompanyMemberRequiredMixin, OtpVerifiedRequiredMixin


class AuthkeyIndexView(CompanyMemberRequiredMixin, OtpVerifiedRequiredMixin, TemplateView):
    template_name = "authkeys/index.html"


class RulesView(CompanyMemberRequiredMixin, OtpVerifiedRequiredMixin, TemplateView):
    template_name = "authkeys/rules.html"
