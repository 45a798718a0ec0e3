package dev.riskhub.agent.spring;

import dev.riskhub.agent.RiskHubAgent;
import dev.riskhub.agent.RiskHubFilter;
import dev.riskhub.agent.RiskHubOptions;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.autoconfigure.condition.ConditionalOnWebApplication;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.web.servlet.FilterRegistrationBean;
import org.springframework.context.annotation.Bean;

/**
 * Spring Boot (3.x, servlet stack): with the agent's jar on the class path, an agent started from
 * {@code riskhub.*} (and the RISK_HUB_* environment variables) and its {@link RiskHubFilter} mapped to
 * {@code /*} after Spring Security. Invalid options stop the application at start-up with one line,
 * as the filter's own {@code init} does. Define a {@link RiskHubAgent} bean to start it yourself, a
 * {@link RiskHubOptionsCustomizer} to set what properties cannot, or {@code riskhub.enabled=false}.
 */
@AutoConfiguration
@ConditionalOnClass({jakarta.servlet.Filter.class, FilterRegistrationBean.class})
@ConditionalOnWebApplication(type = ConditionalOnWebApplication.Type.SERVLET)
@ConditionalOnProperty(prefix = "riskhub", name = "enabled", havingValue = "true", matchIfMissing = true)
@EnableConfigurationProperties(RiskHubProperties.class)
public class RiskHubAutoConfiguration {

  @Bean(destroyMethod = "close")
  @ConditionalOnMissingBean
  public RiskHubAgent riskHubAgent(RiskHubProperties p, ObjectProvider<RiskHubOptionsCustomizer> customizers) {
    RiskHubOptions o = RiskHubOptions.fromEnvironment();
    if (p.getApplicationId() != null) o.applicationId(p.getApplicationId());
    if (p.getEnvironment() != null) o.environment(p.getEnvironment());
    if (p.getRelayUrl() != null) o.relayUrl(p.getRelayUrl());
    if (p.getToken() != null) o.token(p.getToken());
    if (p.getMaxQueue() != null) o.maxQueue(p.getMaxQueue());
    if (p.getBatchSize() != null) o.batchSize(p.getBatchSize());
    if (p.getLingerTime() != null) o.lingerTime(p.getLingerTime());
    if (p.getHttpTimeout() != null) o.httpTimeout(p.getHttpTimeout());
    if (p.getShutdownTimeout() != null) o.shutdownTimeout(p.getShutdownTimeout());
    if (p.getDecisionsInterval() != null) o.decisionsInterval(p.getDecisionsInterval());
    if (p.getEnforce() != null) o.enforce(p.getEnforce());
    customizers.orderedStream().forEach(c -> c.customize(o));
    return RiskHubAgent.start(o);
  }

  @Bean
  @ConditionalOnMissingBean(name = "riskHubFilterRegistration")
  public FilterRegistrationBean<RiskHubFilter> riskHubFilterRegistration(RiskHubAgent agent, RiskHubProperties p) {
    FilterRegistrationBean<RiskHubFilter> r = new FilterRegistrationBean<>(new RiskHubFilter(agent));
    r.setName("riskHubFilter");
    r.setOrder(p.getFilterOrder());
    r.setUrlPatterns(p.getUrlPatterns());
    r.setAsyncSupported(true);
    return r;
  }
}
