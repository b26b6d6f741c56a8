from rest_framework.pagination import PageNumberPagination


class ApiPagination(PageNumberPagination):
    """`{"count", "next", "previous", "results"}`; 50 a page, `?page_size=` to 200."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
