# Apicurio Registry's Quarkus application on the local JRE; see test-images.sh. The JVM flags come from
# the test setup (the local stack's, src/local/stack.ts): `java <flags> -jar quarkus-run.jar`.
ARG JRE=risk-hub-local/jre:21
FROM ${JRE}
COPY app /opt/apicurio
WORKDIR /opt/apicurio
ENTRYPOINT ["java"]
