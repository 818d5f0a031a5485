"""SMS section pages. The API, Failed Logs and webhooks are not built yet; the pages say so."""

from django.views.generic import TemplateView

from accounts.otp import CompanyMemberRequiredMixin, OtpVerifiedRequiredMixin


class FailedLogsView(CompanyMemberRequiredMixin, TemplateView):
    template_name = "messaging/failed_logs.html"


class WebhooksView(CompanyMemberRequiredMixin, OtpVerifiedRequiredMixin, TemplateView):
    template_name = "messaging/webhooks.html"


class ApiDocsView(TemplateView):
    template_name = "messaging/api_docs.html"
