# MLflow tracking server with the PostgreSQL driver (backend store) and boto3 (optional S3 artifact store).
#   docker build -f k8s/images/mlflow.Dockerfile -t ghcr.io/tierlab/mlflow:3.17.2 k8s/images
FROM ghcr.io/mlflow/mlflow:v3.17.2
RUN pip install --no-cache-dir psycopg2-binary boto3
USER 1000
ENTRYPOINT ["mlflow"]
