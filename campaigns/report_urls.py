from django.urls import path

from campaigns import report_views

app_name = "reports"

urlpatterns = [
    path("<int:pk>/report/", report_views.report, name="report"),
    path("<int:pk>/report/deliveries.csv", report_views.deliveries_csv, name="deliveries_csv"),
    path("<int:pk>/report/links.csv", report_views.links_csv, name="links_csv"),
    path("<int:pk>/report/chart.svg", report_views.chart_svg, name="chart"),
    path("<int:pk>/report/engagement.svg", report_views.engagement_svg, name="engagement_chart"),
    path("<int:pk>/report/retry/", report_views.retry_failed, name="retry"),
    path("<int:pk>/report/winner/", report_views.pick_winner, name="winner"),
]
