export { createGateway, Gateway, GatewayOptions, GatewaySettings, DASHBOARD_DIR } from './gateway';
