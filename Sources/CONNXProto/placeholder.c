int connx_placeholder;
